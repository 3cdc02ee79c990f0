/**
 * better-sqlite3 behind the async driver interface. better-sqlite3 is synchronous, but the
 * store's transactions are async functions: a small lock keeps other callers' statements
 * out of an open transaction (they wait for COMMIT), so transactions never interleave.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { PortcullisError } from '../../errors/errors.js';
import { applyMigrations } from '../migrate.js';
import type { QueryResult, SqlDriver, SqlTransaction, StoreLogger } from '../sql-driver.js';
import { wrapStoreError } from '../store-errors.js';
import type { StoreChange } from '../types.js';
import { sqliteBinding } from './binding.js';
import { sqliteMigrations } from './migrations.js';

interface Translated {
  sql: string;
  /** For each `?` in order, the 0-based index of the `$n` parameter it takes. */
  order: number[];
}

/** Rewrites `$1`-style placeholders (outside quoted text) to `?`, remembering their order. */
export function translatePlaceholders(sql: string): Translated {
  const order: number[] = [];
  let out = '';
  let quote: string | undefined;
  for (let i = 0; i < sql.length; i++) {
    const ch = sql[i] as string;
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
      continue;
    }
    if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
      continue;
    }
    if (ch === '$') {
      const match = /^\d+/.exec(sql.slice(i + 1));
      if (match) {
        order.push(Number(match[0]) - 1);
        out += '?';
        i += match[0].length;
        continue;
      }
    }
    out += ch;
  }
  return { sql: out, order };
}

function toSqliteValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

export class SqliteDriver implements SqlDriver {
  readonly dialect = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly deliver: (change: StoreChange) => void;
  private readonly logger: StoreLogger;
  private readonly statements = new Map<string, { stmt: Database.Statement; order: number[] }>();
  private locked = false;
  private readonly waiters: Array<() => void> = [];

  constructor(path: string, deliver: (change: StoreChange) => void, logger: StoreLogger) {
    this.deliver = deliver;
    this.logger = logger;
    const memory = path === ':memory:' || path === '';
    try {
      if (!memory) mkdirSync(dirname(resolve(path)), { recursive: true });
      const binding = sqliteBinding();
      if (binding.warning !== undefined) logger('warn', binding.warning);
      this.db = new binding.Database(memory ? ':memory:' : path);
      if (!memory) this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.pragma('foreign_keys = ON');
      this.db.pragma('synchronous = NORMAL');
      // Unicode-aware lower() so case-insensitive search matches PostgreSQL's.
      this.db.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
    } catch (err) {
      throw new PortcullisError('store_unavailable', 'Cannot open the sqlite store', { cause: err });
    }
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    if (!this.locked) return this.run(sql, params);
    await this.acquire();
    try {
      return this.run(sql, params);
    } finally {
      this.release();
    }
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    await this.acquire();
    const pending: StoreChange[] = [];
    let result: T;
    try {
      this.run('BEGIN IMMEDIATE', []);
      const tx: SqlTransaction = {
        query: async (sql, params = []) => this.run(sql, params),
        publish: async (change) => {
          pending.push(change);
        },
      };
      try {
        result = await fn(tx);
        this.run('COMMIT', []);
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      throw wrapStoreError(err, 'sqlite');
    } finally {
      this.release();
    }
    for (const change of pending) this.deliver(change);
    return result;
  }

  async migrate(): Promise<void> {
    await this.transaction((tx) => applyMigrations(tx, sqliteMigrations, this.logger));
  }

  jsonArrayContains(column: string, placeholder: string): string {
    return `EXISTS (SELECT 1 FROM json_each(${column}) WHERE json_each.value = ${placeholder})`;
  }

  /** Every write transaction runs alone (the in-process lock, then BEGIN IMMEDIATE across processes). */
  readonly shareRowsClause = '';

  async serialise(): Promise<void> {
    // BEGIN IMMEDIATE already made this transaction the only writer.
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }

  private run(sql: string, params: readonly unknown[]): QueryResult {
    try {
      let prepared = this.statements.get(sql);
      if (!prepared) {
        const translated = translatePlaceholders(sql);
        prepared = { stmt: this.db.prepare(translated.sql), order: translated.order };
        if (this.statements.size < 500) this.statements.set(sql, prepared);
      }
      const values = prepared.order.map((index) => toSqliteValue(params[index]));
      if (prepared.stmt.reader) {
        const rows = prepared.stmt.all(...values) as Record<string, unknown>[];
        return { rows, rowCount: rows.length };
      }
      const info = prepared.stmt.run(...values);
      return { rows: [], rowCount: info.changes };
    } catch (err) {
      throw wrapStoreError(err, 'sqlite');
    }
  }

  private acquire(): Promise<void> {
    if (!this.locked) {
      this.locked = true;
      return Promise.resolve();
    }
    return new Promise((resolveWait) => this.waiters.push(resolveWait));
  }

  private release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }
}

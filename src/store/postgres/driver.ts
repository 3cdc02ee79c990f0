/**
 * node-postgres behind the async driver interface: a pool for queries and transactions,
 * NOTIFY inside each publishing transaction, and a dedicated LISTEN connection
 * (listener.ts) that is the only path changes reach local listeners by.
 *
 * Nothing waits on the database forever. A server that stops answering with the TCP connection
 * still up (a network stall, a frozen primary, a disk that blocks commits) sends no error: every
 * query has a deadline on both sides, the server's `statement_timeout` (a slow query is
 * cancelled and its connection stays usable) and, a second later, the client's read deadline (a
 * server that answers nothing at all: the connection is thrown away). Either is
 * `store_unavailable` (503). Migrations alone run without one: a long index build or another
 * replica holding the migration lock is not an outage. close() ends within CLOSE_TIMEOUT_MS.
 */
import pg from 'pg';
import { settleWithin } from '../../observability/settle-within.js';
import { applyMigrations } from '../migrate.js';
import type { QueryResult, SqlDriver, SqlTransaction, StoreLogger } from '../sql-driver.js';
import { wrapStoreError } from '../store-errors.js';
import type { StoreChange } from '../types.js';
import { CHANGE_CHANNEL, ChangeListener } from './listener.js';
import { postgresMigrations } from './migrations.js';

/** Arbitrary constant key of the advisory lock migrations take ("pcls"). */
const MIGRATION_LOCK_KEY = 0x70636c73;

/** Server-side deadline of every statement but the migrations'. */
export const STATEMENT_TIMEOUT_MS = 10_000;
/** Client-side deadline of every query but the migrations': the server answered nothing at all. */
export const QUERY_TIMEOUT_MS = STATEMENT_TIMEOUT_MS + 1_000;
/** How long close() waits for the connections to end before giving up on them. */
export const CLOSE_TIMEOUT_MS = 5_000;

export interface PostgresTimeouts {
  statementMs?: number;
  queryMs?: number;
  closeMs?: number;
}

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly listener: ChangeListener;
  private readonly logger: StoreLogger;
  private closing: Promise<void> | undefined;
  private readonly queryMs: number;
  private readonly closeMs: number;

  private constructor(url: string, deliver: (change: StoreChange) => void, logger: StoreLogger, timeouts: PostgresTimeouts) {
    this.logger = logger;
    const statementMs = timeouts.statementMs ?? STATEMENT_TIMEOUT_MS;
    this.queryMs = timeouts.queryMs ?? QUERY_TIMEOUT_MS;
    this.closeMs = timeouts.closeMs ?? CLOSE_TIMEOUT_MS;
    // The read deadline is given per query (query()/transaction()), not here: a pool-wide one
    // could not be lifted for the migrations (pg reads a per-query 0 as "use the pool's").
    const config: pg.PoolConfig = {
      connectionString: url,
      max: 10,
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: 'portcullis',
      statement_timeout: statementMs,
    };
    this.pool = new pg.Pool(config);
    // An idle client's error must not crash the process; the next query reconnects.
    this.pool.on('error', (err) => this.logger('warn', 'store connection error', { error: err.message }));
    this.listener = new ChangeListener({ connectionString: url, connectionTimeoutMillis: 5_000, query_timeout: this.queryMs }, deliver, logger);
  }

  static async open(url: string, deliver: (change: StoreChange) => void, logger: StoreLogger, timeouts: PostgresTimeouts = {}): Promise<PostgresDriver> {
    const driver = new PostgresDriver(url, deliver, logger, timeouts);
    try {
      await driver.listener.start();
    } catch (err) {
      await driver.close();
      throw wrapStoreError(err, 'postgres');
    }
    return driver;
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<QueryResult> {
    try {
      // pool.query releases the client with the error, so a connection that timed out is dropped.
      const result = await this.pool.query(withDeadline(sql, params, this.queryMs));
      return { rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw wrapStoreError(err, 'postgres');
    }
  }

  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    return this.runTransaction(fn, this.queryMs);
  }

  /** `queryMs` undefined: no read deadline (migrations). */
  private async runTransaction<T>(fn: (tx: SqlTransaction) => Promise<T>, queryMs: number | undefined): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrapStoreError(err, 'postgres');
    }
    let broken: Error | undefined;
    // pg-pool listens for a client's errors only while it is idle. A connection lost while this
    // transaction holds it (a restart, a failover, a reset) is emitted as 'error' on the client,
    // which with no listener would end the process: it fails the transaction instead, and the
    // client is dropped rather than handed back.
    const lost = (err: Error): void => {
      broken ??= err;
    };
    client.on('error', lost);
    const run = async (sql: string, params: readonly unknown[] = []): Promise<QueryResult> => {
      const result = await client.query(withDeadline(sql, params, queryMs));
      return { rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 };
    };
    const tx: SqlTransaction = {
      query: run,
      publish: async (change) => {
        await run('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify(change)]);
      },
    };
    try {
      await run('BEGIN');
      const result = await fn(tx);
      await run('COMMIT');
      return result;
    } catch (err) {
      if (err instanceof Error && err.message === 'Query read timeout') {
        // The server answered nothing: a ROLLBACK would queue behind the lost query and wait
        // as long again. Dropping the connection rolls the transaction back on the server.
        broken = err;
      } else {
        try {
          await run('ROLLBACK');
        } catch (rollbackErr) {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
      }
      throw wrapStoreError(err, 'postgres');
    } finally {
      client.release(broken);
      client.removeListener('error', lost);
    }
  }

  async migrate(): Promise<void> {
    await this.runTransaction(async (tx) => {
      await tx.query('SET LOCAL statement_timeout = 0');
      // Held until COMMIT: a second replica migrating at the same time waits, then finds nothing to do.
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await applyMigrations(tx, postgresMigrations, this.logger);
    }, undefined);
  }

  jsonArrayContains(column: string, placeholder: string): string {
    return `(${column})::jsonb @> jsonb_build_array(${placeholder}::text)`;
  }

  readonly shareRowsClause = ' FOR SHARE';

  async serialise(tx: SqlTransaction, key: number): Promise<void> {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [key]);
  }

  /** Whether the LISTEN connection is up (changes from other replicas are arriving). */
  get listening(): boolean {
    return this.listener.connected;
  }

  /**
   * Ends the LISTEN connection and the pool. A server that answers nothing never acknowledges
   * the goodbye, and a connection busy with a lost query is only handed back at its deadline:
   * after CLOSE_TIMEOUT_MS the rest is left to be cut when the process exits.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const ended = Promise.all([this.listener.close(), this.pool.end().catch(() => undefined)]);
      if ((await settleWithin(ended, this.closeMs)) === 'late') {
        this.logger('warn', 'store connections did not close in time', { timeout_ms: this.closeMs });
        return;
      }
      await ended; // settled in time: a listener that failed to close still fails close()
    })();
    return this.closing;
  }
}

/** A pg query config with the client-side read deadline (none when `queryMs` is undefined). */
function withDeadline(text: string, values: readonly unknown[], queryMs: number | undefined): pg.QueryConfig {
  const config: pg.QueryConfig & { query_timeout?: number } = { text, values: values as unknown[] };
  if (queryMs !== undefined) config.query_timeout = queryMs;
  return config;
}

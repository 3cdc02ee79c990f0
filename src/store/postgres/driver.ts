/**
 * node-postgres behind the async driver interface: a pool for queries and transactions,
 * NOTIFY inside each publishing transaction, and a dedicated LISTEN connection
 * (listener.ts) that is the only path changes reach local listeners by.
 */
import pg from 'pg';
import { applyMigrations } from '../migrate.js';
import type { QueryResult, SqlDriver, SqlTransaction, StoreLogger } from '../sql-driver.js';
import { wrapStoreError } from '../store-errors.js';
import type { StoreChange } from '../types.js';
import { CHANGE_CHANNEL, ChangeListener } from './listener.js';
import { postgresMigrations } from './migrations.js';

/** Arbitrary constant key of the advisory lock migrations take ("pcls"). */
const MIGRATION_LOCK_KEY = 0x70636c73;

export class PostgresDriver implements SqlDriver {
  readonly dialect = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly listener: ChangeListener;
  private readonly logger: StoreLogger;
  private closing: Promise<void> | undefined;

  private constructor(url: string, deliver: (change: StoreChange) => void, logger: StoreLogger) {
    this.logger = logger;
    const config: pg.PoolConfig = { connectionString: url, max: 10, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000, keepAlive: true, application_name: 'portcullis' };
    this.pool = new pg.Pool(config);
    // An idle client's error must not crash the process; the next query reconnects.
    this.pool.on('error', (err) => this.logger('warn', 'store connection error', { error: err.message }));
    this.listener = new ChangeListener({ connectionString: url, connectionTimeoutMillis: 5_000 }, deliver, logger);
  }

  static async open(url: string, deliver: (change: StoreChange) => void, logger: StoreLogger): Promise<PostgresDriver> {
    const driver = new PostgresDriver(url, deliver, logger);
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
      const result = await this.pool.query(sql, params as unknown[]);
      return { rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 };
    } catch (err) {
      throw wrapStoreError(err, 'postgres');
    }
  }

  async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw wrapStoreError(err, 'postgres');
    }
    let broken: Error | undefined;
    const run = async (sql: string, params: readonly unknown[] = []): Promise<QueryResult> => {
      const result = await client.query(sql, params as unknown[]);
      return { rows: result.rows as Record<string, unknown>[], rowCount: result.rowCount ?? 0 };
    };
    const tx: SqlTransaction = {
      query: run,
      publish: async (change) => {
        await run('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify(change)]);
      },
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
      }
      throw wrapStoreError(err, 'postgres');
    } finally {
      client.release(broken);
    }
  }

  async migrate(): Promise<void> {
    await this.transaction(async (tx) => {
      // Held until COMMIT: a second replica migrating at the same time waits, then finds nothing to do.
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      await applyMigrations(tx, postgresMigrations, this.logger);
    });
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

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.listener.close();
      await this.pool.end().catch(() => undefined);
    })();
    return this.closing;
  }
}

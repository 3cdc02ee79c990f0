/**
 * The tiny driver interface the one SQL implementation (sql-store.ts) runs on. SQL is written
 * once with `$1`-style placeholders; the SQLite driver translates them. Values go in as
 * JS strings, numbers, booleans and null; rows come back with dialect-typed values
 * (pg int8 as string, SQLite booleans as 0/1) which sql-rows.ts normalises.
 */
import type { StoreChange } from './types.js';

export type Row = Record<string, unknown>;

export interface QueryResult {
  rows: Row[];
  /** Rows returned (with RETURNING / SELECT) or changed (INSERT / UPDATE / DELETE). */
  rowCount: number;
}

export interface SqlExecutor {
  query(sql: string, params?: readonly unknown[]): Promise<QueryResult>;
}

export interface SqlTransaction extends SqlExecutor {
  /**
   * Publishes a change that becomes visible only if the transaction commits: PostgreSQL
   * NOTIFYs inside the transaction; SQLite delivers to in-process listeners after COMMIT.
   */
  publish(change: StoreChange): Promise<void>;
}

export interface SqlDriver extends SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /** Applies this dialect's pending migrations (safe to call concurrently and repeatedly). */
  migrate(): Promise<void>;
  /** SQL for "the JSON text array in `column` has the string bound to `placeholder`". */
  jsonArrayContains(column: string, placeholder: string): string;
  /**
   * Suffix for a SELECT that must hold its rows against concurrent UPDATE/DELETE until the
   * transaction ends (PostgreSQL ` FOR SHARE`; SQLite: '' — its write transactions never interleave).
   */
  readonly shareRowsClause: string;
  /**
   * Makes the transactions that call it with the same key run one after the other (PostgreSQL:
   * a transaction-scoped advisory lock; SQLite: a no-op, BEGIN IMMEDIATE already serialises writers).
   */
  serialise(tx: SqlTransaction, key: number): Promise<void>;
  close(): Promise<void>;
}

export type StoreLogger = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;

export const silentLogger: StoreLogger = () => undefined;

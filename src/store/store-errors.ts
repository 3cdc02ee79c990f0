/**
 * Wraps errors of pg and better-sqlite3 once, at the store boundary. Connectivity problems,
 * a server that did not answer in time included, become `store_unavailable` (503); anything
 * else is an `internal_error`. Both keep the original as `cause` and never put SQL parameters
 * in the message.
 */
import { PortcullisError } from '../errors/errors.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN']);

const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|CORRUPT|NOTADB|PROTOCOL|PERM|AUTH)/;

export function isConnectivityError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return true;
    if (SQLITE_UNAVAILABLE.test(code)) return true;
    // SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57P0x shutdown,
    // 28 invalid authorization, 3D000 unknown database; 57014 a statement the server cancelled
    // (statement_timeout).
    if (/^(08|53|28)[0-9A-Z]{3}$/.test(code) || /^57P0[1-4]$/.test(code) || code === '3D000' || code === '57014') return true;
  }
  // node-postgres's own read deadline (query_timeout): the server answered nothing at all.
  if (err.message === 'Query read timeout') return true;
  return /connection (terminated|error|is not open|refused)|not open|timeout exceeded when trying to connect|Client was closed|pool after calling end|Cannot use a pool/i.test(err.message);
}

export function wrapStoreError(err: unknown, dialect: 'sqlite' | 'postgres'): PortcullisError {
  if (err instanceof PortcullisError) return err;
  if (isConnectivityError(err)) return new PortcullisError('store_unavailable', `The ${dialect} store is unavailable`, { cause: err });
  return new PortcullisError('internal_error', `The ${dialect} store failed a query`, { cause: err });
}

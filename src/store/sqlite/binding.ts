/**
 * Which better-sqlite3 the SQLite store opens databases with.
 *
 * better-sqlite3 12 is a classic addon compiled against the running Node's headers. Compiled
 * against Node 24.19 or later headers, it aborts the process when the garbage collector destroys
 * one of its statements or databases (Node's ObjectWrap cleanup hook asserts; found running the
 * suite on Node 24.21). better-sqlite3 13 uses Node-API, ships prebuilt binaries and is not
 * affected, but needs Node 22. So: 13 (installed as the optional dependency
 * `better-sqlite3-node22`, which npm skips on Node 20) on Node 22 and later, 12 on Node 20.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';

export type SqliteConstructor = typeof BetterSqlite3;

const require = createRequire(import.meta.url);

export interface SqliteBinding {
  Database: SqliteConstructor;
  /** The package it came from. */
  package: 'better-sqlite3-node22' | 'better-sqlite3';
  /** Set when this Node should have had the Node-API build and it was not installed. */
  warning?: string;
}

let loaded: SqliteBinding | undefined;

export function nodeMajor(version: string = process.versions.node): number {
  return Number(version.split('.')[0]);
}

/** The package to use on a Node of this major version, in order of preference. */
export function sqlitePackages(major: number): Array<SqliteBinding['package']> {
  return major >= 22 ? ['better-sqlite3-node22', 'better-sqlite3'] : ['better-sqlite3'];
}

export function sqliteBinding(): SqliteBinding {
  if (loaded) return loaded;
  const candidates = sqlitePackages(nodeMajor());
  for (const [i, name] of candidates.entries()) {
    let Database: SqliteConstructor;
    try {
      Database = require(name) as SqliteConstructor;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && i < candidates.length - 1) continue;
      throw err;
    }
    loaded = { Database, package: name };
    if (i > 0) loaded.warning = `${candidates[0] as string} is not installed (npm run with --omit=optional?): using ${name}, which can abort the process on Node ${process.versions.node}`;
    return loaded;
  }
  throw new Error('no better-sqlite3 package to load');
}

/**
 * Opens the store a `store.url` names: `sqlite:PATH` (`sqlite::memory:` in memory) or
 * `postgres://` / `postgresql://`. Does not migrate: callers run `store.migrate()`.
 */
import { ChangeHub } from './change-hub.js';
import { PostgresDriver } from './postgres/driver.js';
import { silentLogger, type StoreLogger } from './sql-driver.js';
import { SqlStore } from './sql-store.js';
import { SqliteDriver } from './sqlite/driver.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  logger?: StoreLogger;
}

/** `sqlite:./data/x.db` → `./data/x.db`; `sqlite:///abs/x.db` → `/abs/x.db`; `sqlite::memory:` → `:memory:`. */
export function sqlitePath(url: string): string {
  let path = url.slice('sqlite:'.length);
  if (path.startsWith('//')) path = path.slice(2);
  return path;
}

export async function openStore(url: string, options: OpenStoreOptions = {}): Promise<Store> {
  const logger = options.logger ?? silentLogger;
  const hub = new ChangeHub(logger);
  if (url.startsWith('sqlite:')) {
    const path = sqlitePath(url);
    if (path === '') throw new TypeError('store url sqlite: needs a path (or :memory:)');
    return new SqlStore(new SqliteDriver(path, hub.deliver, logger), hub);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return new SqlStore(await PostgresDriver.open(url, hub.deliver, logger), hub);
  }
  throw new TypeError('store url must start with sqlite: or postgres://');
}

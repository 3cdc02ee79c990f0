/** `portcullis migrate`: runs the store migrations of the configured store and exits. */
import { openStore } from '../store/open.js';
import { loadOrExit, type ConfigFlags } from './serve.js';

export async function migrate(flags: ConfigFlags): Promise<void> {
  const { config } = loadOrExit(flags);
  const store = await openStore(config.store.url);
  try {
    await store.migrate();
    process.stdout.write(`migrations applied to ${describeStoreUrl(config.store.url)}\n`);
  } finally {
    await store.close();
  }
}

/**
 * The store URL without its secrets, for output: a PostgreSQL URL as scheme, host and database
 * only (its user info and its query, where pg also takes `password=`, are dropped); a SQLite
 * path as it is.
 */
export function describeStoreUrl(url: string): string {
  if (!/^postgres(ql)?:/i.test(url)) return url;
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return 'a PostgreSQL store (its URL does not parse)';
  }
}

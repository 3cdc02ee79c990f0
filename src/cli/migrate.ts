/** `portcullis migrate`: runs the store migrations of the configured store and exits. */
import { openStore } from '../store/open.js';
import { loadOrExit, type ConfigFlags } from './serve.js';

export async function migrate(flags: ConfigFlags): Promise<void> {
  const { config } = loadOrExit(flags);
  const store = await openStore(config.store.url);
  try {
    await store.migrate();
    process.stdout.write(`migrations applied to ${config.store.url.replace(/\/\/[^@/]*@/, '//***@')}\n`);
  } finally {
    await store.close();
  }
}

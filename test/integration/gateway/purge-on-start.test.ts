import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../../src/store/open.js';
import { startGateway } from '../../helpers/gateway.js';

test('the gateway purges expired events soon after start, not only after the first 10 minutes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-purge-start-'));
  const url = `sqlite:${join(dir, 'portcullis.db')}`;
  try {
    const seeded = await openStore(url);
    await seeded.migrate();
    const now = Date.now();
    await seeded.insertEvent({ type: 'Expired', time: now - 91 * 86_400_000, username: null, data: {} });
    await seeded.insertEvent({ type: 'Current', time: now - 89 * 86_400_000, username: null, data: {} });
    await seeded.close();

    const gw = await startGateway({ storeUrl: url });
    try {
      const count = async (type: string): Promise<number> => (await gw.registry.store.listEvents({ type, limit: 1 })).total;
      for (let waited = 0; waited < 5000 && (await count('Expired')) > 0; waited += 100) await new Promise((r) => setTimeout(r, 100));
      assert.equal(await count('Expired'), 0, 'the event past events.retention (90d) is gone');
      assert.equal(await count('Current'), 1);
    } finally {
      await gw.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

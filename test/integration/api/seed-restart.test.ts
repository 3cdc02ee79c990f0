/**
 * SPEC 9: each seeded user is created once. A seeded user an admin deletes stays deleted
 * across restarts (the store records the applied entries), while entries added to the file
 * later are still applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, startGateway } from '../../helpers/gateway.js';

const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });

test('a deleted seeded user is not created again when the gateway restarts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-seed-restart-'));
  const file = join(dir, 'passwords.txt');
  const options = { storeUrl: `sqlite:${join(dir, 'store.db')}`, config: { users: { password_hash_cost: 12, seed_file: file } } };
  writeFileSync(file, 'ops:admin=Seed-Passw0rd1\nreader:ro=Reader-Passw0rd1\n');
  try {
    let gw = await startGateway(options);
    try {
      assert.equal((await gw.fetch('/x', basic('ops', 'Seed-Passw0rd1'))).status, 200);
      await gw.registry.users.delete('ops', { username: 'admin' });
      assert.equal((await gw.fetch('/x', basic('ops', 'Seed-Passw0rd1'))).status, 401);
    } finally {
      await gw.close();
    }
    writeFileSync(file, 'ops:admin=Seed-Passw0rd1\nreader:ro=Reader-Passw0rd1\nlater:rw=Later-Passw0rd1\n');
    for (let restart = 0; restart < 2; restart++) {
      gw = await startGateway(options);
      try {
        assert.equal(await gw.registry.store.getUser('ops'), undefined, `restart ${restart}: ops stays deleted`);
        assert.equal((await gw.fetch('/x', basic('ops', 'Seed-Passw0rd1'))).status, 401);
        assert.equal((await gw.fetch('/x', basic('reader', 'Reader-Passw0rd1'))).status, 200, 'the other seeded user is kept');
        assert.ok(!gw.events.some((e) => e.event === 'UserCreated' && e.username === 'ops'), 'no UserCreated for ops again');
        assert.ok((await gw.fetch('/x', basic('admin', ADMIN_PASSWORD))).status === 200);
        if (restart === 0) {
          assert.equal((await gw.fetch('/x', basic('later', 'Later-Passw0rd1'))).status, 200, 'an entry added later is applied');
          await gw.registry.users.delete('later', { username: 'admin' });
        } else assert.equal(await gw.registry.store.getUser('later'), undefined, 'a user deleted after its late seeding stays deleted too');
      } finally {
        await gw.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, startGateway } from '../../helpers/gateway.js';

const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });

test('the admin password from PORTCULLIS_ADMIN_PASSWORD works and is never printed', async () => {
  const gw = await startGateway();
  try {
    assert.equal((await gw.fetch('/x', basic('admin', ADMIN_PASSWORD))).status, 200);
    assert.ok(!gw.logs.some((l) => l.includes(ADMIN_PASSWORD)));
    assert.ok(!gw.logs.some((l) => l.includes('generated password')));
    const admin = await gw.registry.store.getUser('admin');
    assert.deepEqual(admin?.roles, ['admin']);
    assert.equal(admin?.must_change_password, false);
  } finally {
    await gw.close();
  }
});

test('seeds users once from the seed file, never overwriting, and a deleted file lets nobody new in', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-seed-'));
  const file = join(dir, 'passwords.txt');
  writeFileSync(file, '# demo\nalice=Alice-Passw0rd\nreader:ro=Reader-Passw0rd\nwriter:wo=Writer-Passw0rd\n');
  const storeUrl = `sqlite:${join(dir, 'store.db')}`;
  let gw = await startGateway({ storeUrl, config: { users: { password_hash_cost: 12, seed_file: file } } });
  try {
    assert.equal((await gw.fetch('/x', basic('alice', 'Alice-Passw0rd'))).status, 200);
    assert.deepEqual((await gw.registry.store.getUser('reader'))?.roles, ['readonly']);
    assert.deepEqual((await gw.registry.store.getUser('writer'))?.roles, ['writeonly']);
    await gw.registry.users.update('alice', { password: 'Changed-Passw0rd', must_change_password: false }, { username: 'admin' });
  } finally {
    await gw.close();
  }
  writeFileSync(file, 'alice=Alice-Passw0rd\nmallory:admin=Mallory-Passw0rd\n');
  gw = await startGateway({ storeUrl, config: { users: { password_hash_cost: 12, seed_file: file } } });
  try {
    assert.equal((await gw.fetch('/x', basic('alice', 'Alice-Passw0rd'))).status, 401, 'an existing user is never overwritten by the seed file');
    assert.equal((await gw.fetch('/x', basic('alice', 'Changed-Passw0rd'))).status, 200);
  } finally {
    await gw.close();
  }
  unlinkSync(file);
  gw = await startGateway({ storeUrl, config: { users: { password_hash_cost: 12, seed_file: file } } });
  try {
    assert.equal((await gw.fetch('/x', basic('nobody', 'Alice-Passw0rd'))).status, 401);
    assert.equal((await gw.registry.store.countUsers()) >= 4, true);
  } finally {
    await gw.close();
  }
});

test('a malformed seed line stops the start with its line number and no password', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-seed-'));
  const file = join(dir, 'passwords.txt');
  writeFileSync(file, 'alice=Alice-Passw0rd\nbob:wizard=TopSecret-Passw0rd\n');
  await assert.rejects(
    () => startGateway({ config: { users: { password_hash_cost: 12, seed_file: file } } }),
    (err: Error) => err.message.includes(':2:') && !err.message.includes('TopSecret'),
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/observability/logger.js';
import { openStore } from '../../../src/store/open.js';
import type { Store } from '../../../src/store/types.js';
import { bootstrapAdmin } from '../../../src/users/bootstrap.js';
import { PasswordHasher } from '../../../src/users/password-hash.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { newUser } from '../store/fixtures.js';

// Replicas of a new deployment start together on one empty store: every one of them must start,
// and exactly one generated password may be announced, the one that works.
async function raceOn(stores: Store[]): Promise<void> {
  const hasher = new PasswordHasher(10);
  const announced: string[] = [];
  const policy = configSchema.parse({}).users.password_policy;
  const outcomes = await Promise.all(
    stores.map((store) => bootstrapAdmin({ store, hasher, policy, adminUsername: 'admin', env: {}, logger: createLogger({ write: () => undefined }), announce: (line) => announced.push(line) })),
  );
  assert.deepEqual([...outcomes].sort(), ['created_generated', 'exists', 'exists']);
  assert.equal(announced.length, 1, 'one password announced');
  const password = /generated password (\S+)$/.exec(announced[0] as string)?.[1] as string;
  const admin = await stores[0]?.getUser('admin');
  assert.ok(admin?.password_hash && (await hasher.verify(password, admin.password_hash)), 'and it is the one stored');
}

test('three replicas bootstrapping one empty SQLite store: all start, one password is announced', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    await raceOn([store, store, store]);
  } finally {
    await store.close();
  }
});

test('three replicas bootstrapping one empty PostgreSQL database: all start, one password is announced', async () => {
  const db = await createTestDatabase();
  const stores = await Promise.all([0, 1, 2].map(() => openStore(db.url)));
  try {
    await stores[0]?.migrate();
    await raceOn(stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
    await db.drop();
  }
});

test('with no enabled admin, a directory record named users.admin_username is never promoted: start-up fails', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    const now = Date.now();
    await store.createUserIfAbsent(newUser('admin', { name: 'Directory Admin', email: '', mapped_roles: ['user'], source: 'ldap', password_hash: null, now }));
    const policy = configSchema.parse({}).users.password_policy;
    await assert.rejects(
      bootstrapAdmin({ store, hasher: new PasswordHasher(10), policy, adminUsername: 'admin', env: {}, logger: createLogger({ write: () => undefined }), announce: () => undefined }),
      /source ldap .*only a local account can be the bootstrap admin/,
    );
    const record = await store.getUser('admin');
    assert.deepEqual(record?.roles, ['user'], 'not promoted');
    assert.equal(record?.password_hash, null, 'no password set on a directory record');
    assert.equal(await store.countEnabledAdmins(), 0);
  } finally {
    await store.close();
  }
});

test('with no enabled admin, a disabled local admin record is restored (a local account may be)', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    const hasher = new PasswordHasher(10);
    await store.createUserIfAbsent(newUser('admin', { name: 'Administrator', email: '', roles: ['admin'], password_hash: await hasher.hash('Old-Passw0rd'), disabled: true, now: Date.now() }));
    const policy = configSchema.parse({}).users.password_policy;
    const outcome = await bootstrapAdmin({ store, hasher, policy, adminUsername: 'admin', env: { PORTCULLIS_ADMIN_PASSWORD: 'New-Passw0rd!' }, logger: createLogger({ write: () => undefined }) });
    assert.equal(outcome, 'created_from_env');
    assert.equal(await store.countEnabledAdmins(), 1);
  } finally {
    await store.close();
  }
});

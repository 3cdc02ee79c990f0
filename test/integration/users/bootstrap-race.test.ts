import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/observability/logger.js';
import { openStore } from '../../../src/store/open.js';
import type { Store } from '../../../src/store/types.js';
import { bootstrapAdmin } from '../../../src/users/bootstrap.js';
import { PasswordHasher } from '../../../src/users/password-hash.js';
import { createTestDatabase } from '../../helpers/postgres.js';

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

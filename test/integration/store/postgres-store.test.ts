import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { PortcullisError } from '../../../src/errors/errors.js';
import { openStore } from '../../../src/store/open.js';
import type { Store } from '../../../src/store/types.js';
import { createTestDatabase, terminateConnections } from '../../helpers/postgres.js';
import { collectChanges, has, newUser, session, T0 } from './fixtures.js';
import { storeContract } from './store-contract.js';

let db: { url: string; drop(): Promise<void> };
let store: Store;
const opened: Store[] = [];

async function open(url = db.url): Promise<Store> {
  const s = await openStore(url);
  opened.push(s);
  return s;
}

/** Empties every table but schema_migrations, so each contract test starts clean. */
async function truncateAll(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'");
    if (rows.length > 0) await client.query(`TRUNCATE ${rows.map((r) => `"${r.tablename}"`).join(', ')} RESTART IDENTITY`);
  } finally {
    await client.end();
  }
}

before(async () => {
  db = await createTestDatabase();
  store = await open();
  await store.migrate();
});

after(async () => {
  for (const s of opened) await s.close();
  await db?.drop();
});

storeContract({
  async fresh() {
    await truncateAll(db.url);
    return store;
  },
});

test('a change made through one store instance reaches a second instance within a second', async () => {
  const other = await open();
  const seen = collectChanges(other);
  try {
    const { auth_version: remote } = await store.createUser(newUser('Remote'));
    await seen.waitFor(has('user', 'remote'), 1_000);
    await store.createSession(session('remote-session', 'remote', { auth_version: remote }));
    await store.deleteSession('remote-session');
    await seen.waitFor(has('session', 'remote-session'), 1_000);
    await other.updateUser('remote', { roles: ['admin'], end_sessions: true, now: T0 });
    const mine = collectChanges(store);
    await store.deleteUser('remote');
    await mine.waitFor(has('user', 'remote'), 1_000);
    mine.stop();
  } finally {
    seen.stop();
  }
});

test('two replicas migrating a new database at the same time both succeed', async () => {
  const fresh = await createTestDatabase();
  try {
    const [a, b, c] = await Promise.all([open(fresh.url), open(fresh.url), open(fresh.url)]);
    await Promise.all([a!.migrate(), b!.migrate(), c!.migrate()]);
    await a!.createUser(newUser('raced'));
    assert.equal((await c!.getUser('RACED'))?.username, 'raced');
    for (const s of [a!, b!, c!]) await s.close();
  } finally {
    await fresh.drop();
  }
});

test('reconnects a dropped LISTEN connection, asks caches to drop everything at the drop and again after the reconnect, and keeps delivering', async () => {
  const replica = await open();
  const seen = collectChanges(replica);
  try {
    assert.ok((await terminateConnections(db.url, 'portcullis-listen')) >= 1);
    // At once: changes stop arriving now.
    await seen.waitFor(has('user', '*'), 1_000);
    // After the reconnect (a rotated signing key may have been missed as well).
    await seen.waitFor(has('signing_key', '*'), 5_000);
    await store.createUser(newUser('afterwards'));
    await seen.waitFor(has('user', 'afterwards'), 1_000);
  } finally {
    seen.stop();
  }
});

test('opening an unreachable database fails with store_unavailable', async () => {
  await assert.rejects(openStore('postgres://postgres@127.0.0.1:1/nothing'), (err: unknown) => {
    assert.ok(err instanceof PortcullisError);
    assert.equal(err.code, 'store_unavailable');
    return true;
  });
});

test('a query after close fails with store_unavailable', async () => {
  const closing = await openStore(db.url);
  await closing.ping();
  await closing.close();
  await assert.rejects(closing.ping(), (err: unknown) => err instanceof PortcullisError && err.code === 'store_unavailable');
});

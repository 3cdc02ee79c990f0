import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PortcullisError } from '../../../src/errors/errors.js';
import { sqliteBinding } from '../../../src/store/sqlite/binding.js';
import { openStore } from '../../../src/store/open.js';
import { sqliteMigrations } from '../../../src/store/sqlite/migrations.js';
import { SqlStore } from '../../../src/store/sql-store.js';
import type { Store } from '../../../src/store/types.js';
import { collectChanges, has, newUser } from './fixtures.js';
import { storeContract } from './store-contract.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-sqlite-store-'));
let current: Store | undefined;
let counter = 0;

after(async () => {
  await current?.close();
  rmSync(dir, { recursive: true, force: true });
});

storeContract({
  async fresh() {
    await current?.close();
    current = await openStore(`sqlite:${join(dir, `contract-${++counter}.db`)}`);
    await current.migrate();
    return current;
  },
});

test('creates the parent directory of the database file and uses WAL', async () => {
  const path = join(dir, 'nested', 'deeper', 'portcullis.db');
  const store = await openStore(`sqlite:${path}`);
  try {
    assert.equal(store.dialect, 'sqlite');
    await store.migrate();
    await store.createUser(newUser('walter'));
    assert.ok(existsSync(path));
    assert.ok(existsSync(`${path}-wal`), 'journal_mode is WAL');
  } finally {
    await store.close();
  }
});

test('a second store on the same file reads what the first wrote', async () => {
  const url = `sqlite:${join(dir, 'shared.db')}`;
  const first = await openStore(url);
  const second = await openStore(url);
  try {
    await first.migrate();
    await second.migrate();
    await first.createUser(newUser('Xena'));
    assert.equal((await second.getUser('xena'))?.username, 'Xena');
  } finally {
    await first.close();
    await second.close();
  }
});

test('an in-memory store works and delivers its changes in process', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    const seen = collectChanges(store);
    await store.createUser(newUser('yuri'));
    await seen.waitFor(has('user', 'yuri'), 100);
    seen.stop();
  } finally {
    await store.close();
  }
});

test('rejects a store url of an unknown scheme', async () => {
  await assert.rejects(openStore('mysql://localhost/db'), TypeError);
});

test('a database path that cannot be opened fails with store_unavailable', async () => {
  const blocker = join(dir, 'not-a-dir');
  writeFileSync(blocker, 'x');
  await assert.rejects(openStore(`sqlite:${join(blocker, 'db.sqlite')}`), (err: unknown) => err instanceof PortcullisError && err.code === 'store_unavailable');
});

test('purge lets other work run between its batches of expired events', async () => {
  const store = await openStore(`sqlite:${join(dir, 'purge-batches.db')}`);
  try {
    await store.migrate();
    const expired = 3 * SqlStore.EVENT_PURGE_BATCH;
    for (let i = 0; i < expired; i++) await store.insertEvent({ type: 'UserLoginFailed', time: 1_000 + i, username: null, data: {} });
    // SQLite answers synchronously: a purge in one statement finishes before any other callback runs.
    let done = false;
    const purged = store.purge(Date.now(), 1_000 + expired).then(() => {
      done = true;
    });
    const seen: number[] = [];
    while (!done) {
      await new Promise((resolve) => setImmediate(resolve));
      if (!done) seen.push((await store.listEvents({ limit: 1 })).total);
    }
    await purged;
    assert.equal((await store.listEvents({ limit: 1 })).total, 0);
    assert.ok(
      seen.some((total) => total > 0 && total < expired),
      `other work ran only before or after the whole purge (totals seen meanwhile: ${seen.join(', ') || 'none'})`,
    );
  } finally {
    await store.close();
  }
});

test('a user row written before migration 4 reads back with attributes {} and mapped_attributes []', async () => {
  const path = join(dir, 'before-attributes.db');
  // The binding the store itself uses (better-sqlite3 13 on Node 22+, 12 on Node 20).
  const db = new (sqliteBinding().Database)(path);
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
  for (const migration of sqliteMigrations.filter((m) => m.version <= 3)) {
    for (const statement of migration.statements) db.exec(statement);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, 1);
  }
  db.prepare("INSERT INTO users (username_key, username, source, created_at, updated_at) VALUES ('old', 'Old', 'local', 1, 1)").run();
  db.close();
  const store = await openStore(`sqlite:${path}`);
  try {
    await store.migrate();
    const user = await store.getUser('old');
    assert.equal(user?.username, 'Old');
    assert.deepEqual(user?.attributes, {});
    assert.deepEqual(user?.mapped_attributes, []);
  } finally {
    await store.close();
  }
});

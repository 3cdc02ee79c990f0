/**
 * PostgreSQL that stops answering with the TCP connection still up (a network stall, a frozen
 * primary): a TCP proxy in front of the test database swallows every byte while `frozen`.
 */
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import { PortcullisError } from '../../../src/errors/errors.js';
import { ChangeHub } from '../../../src/store/change-hub.js';
import { PostgresDriver } from '../../../src/store/postgres/driver.js';
import { silentLogger } from '../../../src/store/sql-driver.js';
import { SqlStore } from '../../../src/store/sql-store.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { startStallProxy, type StallProxy } from '../../helpers/stall-proxy.js';

let db: { url: string; drop(): Promise<void> };
let stall: StallProxy;

before(async () => {
  db = await createTestDatabase();
  stall = await startStallProxy(db.url);
});

after(async () => {
  stall.close();
  await db?.drop();
});

async function openStalling(): Promise<{ store: SqlStore; driver: PostgresDriver }> {
  const hub = new ChangeHub(silentLogger);
  const driver = await PostgresDriver.open(stall.url, hub.deliver, silentLogger, { statementMs: 300, queryMs: 800, closeMs: 500 });
  const store = new SqlStore(driver, hub);
  await store.migrate();
  return { store, driver };
}

async function outcome(promise: Promise<unknown>, ms: number): Promise<string> {
  const started = performance.now();
  const late = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), ms).unref());
  const result = await Promise.race([
    promise.then(
      () => 'answered',
      (err: unknown) => (err instanceof PortcullisError ? err.code : `threw ${(err as Error).message}`),
    ),
    late,
  ]);
  return `${result} after ${Math.round((performance.now() - started) / 100) * 100} ms`;
}

test('a query the server never answers fails as store_unavailable at the query deadline, and close() still ends', async () => {
  const { store } = await openStalling();
  await store.ping();
  stall.frozen = true;
  try {
    assert.match(await outcome(store.ping(), 5_000), /^store_unavailable after (700|800|900|1000) ms$/);
    // The timed-out connection was dropped; a new one meets the connection timeout (5 s).
    assert.match(await outcome(store.getUser('alice'), 8_000), /^store_unavailable after/);
    assert.match(await outcome(store.close(), 5_000), /^answered after/, 'close() gives up on the stalled connections');
  } finally {
    stall.frozen = false;
  }
});

test('a statement past the statement timeout is cancelled by the server as store_unavailable, and the pool keeps working', async () => {
  const { store, driver } = await openStalling();
  try {
    assert.match(await outcome(driver.query('SELECT pg_sleep(3)'), 5_000), /^store_unavailable after (200|300|400|500) ms$/);
    await assert.rejects(
      driver.transaction((tx) => tx.query('SELECT pg_sleep(3)')),
      (err: unknown) => err instanceof PortcullisError && err.code === 'store_unavailable',
    );
    await store.ping();
    assert.equal((await driver.query('SHOW statement_timeout')).rows[0]?.statement_timeout, '300ms');
  } finally {
    await store.close();
  }
});

test('a connection cut in the middle of a transaction fails it as store_unavailable, never as an uncaught error, and the pool reconnects', async () => {
  const { store, driver } = await openStalling();
  try {
    // Cut while the transaction holds its connection between two statements, and while a statement waits for its answer.
    for (const during of ['between statements', 'in a statement'] as const) {
      const cut = driver.transaction(async (tx) => {
        await tx.query('SELECT 1');
        if (during === 'in a statement') stall.frozen = true;
        setTimeout(() => {
          stall.frozen = false;
          stall.cut();
        }, 50);
        if (during === 'in a statement') await tx.query('SELECT 2');
        else await new Promise((resolve) => setTimeout(resolve, 200));
        await tx.query('SELECT 3');
      });
      assert.match(await outcome(cut, 5_000), /^store_unavailable after/, during);
      // An error emitted on the held client with no listener would end the process (and fail this test) by now.
      await new Promise((resolve) => setTimeout(resolve, 100));
      await store.ping();
    }
  } finally {
    stall.frozen = false;
    await store.close();
  }
});

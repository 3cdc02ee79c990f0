/**
 * SPEC 7 (a revocation applies on every replica within 1 second) when the LISTEN connection
 * hangs instead of closing: a network partition or a frozen database host sends no RST, so
 * nothing tells the replica that changes stopped arriving. The listener reaches PostgreSQL
 * through a proxy that can swallow every byte with the connections still up; the heartbeat
 * must notice, drop the caches and reconnect once the database answers again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CHANGE_CHANNEL, ChangeListener, HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS } from '../../../src/store/postgres/listener.js';
import type { StoreChange } from '../../../src/store/types.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { startStallProxy, type StallProxy } from '../../helpers/stall-proxy.js';

async function until(ms: number, check: () => boolean): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let proxy: StallProxy;
let notifier: pg.Client;

before(async () => {
  db = await createTestDatabase();
  proxy = await startStallProxy(db.url);
  notifier = new pg.Client({ connectionString: db.url });
  await notifier.connect();
});

after(async () => {
  await notifier?.end();
  proxy?.close();
  await db?.drop();
});

test('a LISTEN connection that hangs without closing is dropped within a second, with the caches, and comes back', async () => {
  const changes: StoreChange[] = [];
  const logged: string[] = [];
  const listener = new ChangeListener(
    { connectionString: proxy.url, connectionTimeoutMillis: 5_000 },
    (change) => changes.push(change),
    (_level, message) => logged.push(message),
  );
  await listener.start();
  try {
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"session","key":"before"}')`);
    assert.ok((await until(2_000, () => changes.some((c) => c.key === 'before'))) !== undefined, 'a change arrives while the connection works');
    // Heartbeats come and go while nothing is wrong: no drop.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 3));
    assert.equal(listener.connected, true);
    assert.ok(!changes.some((c) => c.key === '*'), 'no cache flush while the connection answers');

    proxy.frozen = true;
    const frozenAt = Date.now();
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"session","key":"during"}')`);
    const flushed = await until(3_000, () => changes.some((c) => c.kind === 'user' && c.key === '*'));
    assert.ok(flushed !== undefined, 'the caches were dropped after the connection hung');
    assert.ok(Date.now() - frozenAt <= HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS + 250, `dropped ${Date.now() - frozenAt} ms after the hang, within the SPEC's second`);
    assert.ok(!changes.some((c) => c.key === 'during'), 'the change made during the hang never arrived: only the flush covers it');
    assert.ok(logged.includes('store change listener lost its connection'));

    // The database answers again: the listener reconnects (an attempt made while frozen first
    // runs into its 5 s connect timeout) and says changes may have been missed.
    proxy.frozen = false;
    assert.ok((await until(12_000, () => listener.connected)) !== undefined, 'reconnected');
    assert.ok(changes.some((c) => c.kind === 'signing_key' && c.key === '*'));
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"token","key":"after"}')`);
    assert.ok((await until(2_000, () => changes.some((c) => c.key === 'after'))) !== undefined, 'changes arrive again');
  } finally {
    // Bounded: without the heartbeat, close() would wait on the hung connection (after() closes the proxy).
    await Promise.race([listener.close(), new Promise((r) => setTimeout(r, 2_000))]);
  }
});

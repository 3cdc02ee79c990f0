/**
 * SPEC 7 (a revocation applies on every replica within 1 second) when the LISTEN connection
 * hangs instead of closing: a network partition or a frozen database host sends no RST, so
 * nothing tells the replica that changes stopped arriving. The listener reaches PostgreSQL
 * through a relay that can freeze its open connections (bytes are held, nothing is closed);
 * the heartbeat must notice, drop the caches and reconnect once the database answers again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { CHANGE_CHANNEL, ChangeListener, HEARTBEAT_MS, HEARTBEAT_TIMEOUT_MS } from '../../../src/store/postgres/listener.js';
import type { StoreChange } from '../../../src/store/types.js';
import { createTestDatabase } from '../../helpers/postgres.js';

/** A TCP relay to the database whose open connections can be frozen: new ones pass normally. */
async function startRelay(target: URL): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const pairs: Array<[Socket, Socket]> = [];
  const all = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    pairs.push([client, upstream]);
    for (const socket of [client, upstream]) {
      all.add(socket);
      socket.on('close', () => all.delete(socket));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    freeze() {
      for (const [client, upstream] of pairs.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    async close() {
      // Frozen sockets too: server.close() waits for every connection.
      for (const socket of all) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(ms: number, check: () => boolean): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let relay: Awaited<ReturnType<typeof startRelay>>;
let notifier: pg.Client;

before(async () => {
  db = await createTestDatabase();
  relay = await startRelay(new URL(db.url));
  notifier = new pg.Client({ connectionString: db.url });
  await notifier.connect();
});

after(async () => {
  await notifier?.end();
  await relay?.close();
  await db?.drop();
});

test('a LISTEN connection that hangs without closing is dropped within a second, with the caches, and comes back', async () => {
  const url = new URL(db.url);
  url.hostname = '127.0.0.1';
  url.port = String(relay.port);
  const changes: StoreChange[] = [];
  const logged: string[] = [];
  const listener = new ChangeListener({ connectionString: url.toString(), connectionTimeoutMillis: 5_000 }, (change) => changes.push(change), (_level, message) => logged.push(message));
  await listener.start();
  try {
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"session","key":"before"}')`);
    assert.ok((await until(2_000, () => changes.some((c) => c.key === 'before'))) !== undefined, 'a change arrives while the connection works');
    // Heartbeats come and go while nothing is wrong: no drop.
    await new Promise((r) => setTimeout(r, HEARTBEAT_MS * 3));
    assert.equal(listener.connected, true);
    assert.ok(!changes.some((c) => c.key === '*'), 'no cache flush while the connection answers');

    relay.freeze();
    const frozenAt = Date.now();
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"session","key":"during"}')`);
    const flushed = await until(3_000, () => changes.some((c) => c.kind === 'user' && c.key === '*'));
    assert.ok(flushed !== undefined, 'the caches were dropped after the connection hung');
    assert.ok(Date.now() - frozenAt <= HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS + 250, `dropped ${Date.now() - frozenAt} ms after the hang, within the SPEC's second`);
    assert.ok(!changes.some((c) => c.key === 'during'), 'the change made during the hang never arrived: only the flush covers it');
    assert.ok(logged.includes('store change listener lost its connection'));

    // New connections through the relay work: the listener reconnects and says changes may have been missed.
    assert.ok((await until(5_000, () => listener.connected)) !== undefined, 'reconnected');
    assert.ok(changes.some((c) => c.kind === 'signing_key' && c.key === '*'));
    await notifier.query(`SELECT pg_notify('${CHANGE_CHANNEL}', '{"kind":"token","key":"after"}')`);
    assert.ok((await until(2_000, () => changes.some((c) => c.key === 'after'))) !== undefined, 'changes arrive again');
  } finally {
    // Bounded: without the heartbeat, close() would wait on the hung connection (after() destroys it).
    await Promise.race([listener.close(), new Promise((r) => setTimeout(r, 2_000))]);
  }
});

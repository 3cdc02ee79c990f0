/**
 * The gateway on a PostgreSQL that stops answering with the TCP connection still up: a TCP
 * proxy in front of the test database swallows every byte while `frozen`.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { startStallProxy, type StallProxy } from '../../helpers/stall-proxy.js';

let gateway: TestGateway;
let db: { url: string; drop(): Promise<void> };
let stall: StallProxy;

before(async () => {
  db = await createTestDatabase();
  stall = await startStallProxy(db.url);
  gateway = await startGateway({ storeUrl: stall.url, config: { server: { listen: '127.0.0.1:0', public_url: 'http://localhost', shutdown_timeout: '2s' } } });
});

after(async () => {
  stall.frozen = false;
  await Promise.race([gateway?.close(), new Promise((r) => setTimeout(r, 3000))]);
  stall.close();
  await db?.drop();
});

async function probe(path: string, ms: number): Promise<{ status: number; ms: number } | 'no answer'> {
  const started = performance.now();
  try {
    const res = await gateway.fetch(path, { signal: AbortSignal.timeout(ms) });
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - started };
  } catch {
    return 'no answer';
  }
}

test('readyz answers 503 not_ready within its 2 s deadline when PostgreSQL stops answering', async () => {
  const ready = await probe('/.auth/readyz', 5000);
  assert.equal(ready === 'no answer' ? ready : ready.status, 200);
  stall.frozen = true;
  const stalled = await probe('/.auth/readyz', 8000);
  assert.notEqual(stalled, 'no answer', 'readyz hung on the stalled store');
  if (stalled === 'no answer') return;
  assert.equal(stalled.status, 503);
  assert.ok(stalled.ms >= 1900 && stalled.ms < 4000, `answered after ${Math.round(stalled.ms)} ms`);
});

test('graceful shutdown ends within shutdown_timeout while PostgreSQL is stalled', async () => {
  stall.frozen = true;
  const started = performance.now();
  const outcome = await Promise.race([gateway.close().then(() => 'closed'), new Promise<string>((r) => setTimeout(() => r('still closing'), 8000))]);
  const ms = Math.round(performance.now() - started);
  assert.equal(outcome, 'closed', `close() had not finished after ${ms} ms with shutdown_timeout 2s`);
  assert.ok(ms < 3500, `closed after ${ms} ms`);
  assert.ok(
    gateway.logs.some((line) => line.includes('did not close in time')),
    'the abandoned close is logged',
  );
});

/**
 * An anonymous client can make a UserLoginFailed per request (a made-up bearer token costs it
 * nothing): the store and the webhooks must stay bounded, and the events that matter must still
 * get through.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

function get(url: URL, headers: Record<string, string>, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `requests` requests with made-up bearer tokens, 16 at a time; `headers(i)` adds to each. */
async function flood(gw: TestGateway, requests: number, headers: (i: number) => Record<string, string> = () => ({})): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const url = new URL('/api/x', gw.url);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < requests) {
      const i = next++;
      assert.equal(await get(url, { authorization: `Bearer not-a-token-${i}`, 'user-agent': 'A'.repeat(512), ...headers(i) }, agent), 401);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  agent.destroy();
}

test('a flood of made-up bearer tokens from one address writes a bounded number of event rows', async () => {
  const gw = await startGateway();
  try {
    const before = (await gw.registry.store.listEvents({ limit: 1 })).total;
    await flood(gw, 1000);
    await gw.registry.events.drain(10_000);
    const failures = await gw.registry.store.listEvents({ type: 'UserLoginFailed', limit: 1 });
    assert.equal(failures.total, 30, 'the first 30 of the minute are stored');
    const summaries = await gw.registry.store.listEvents({ type: 'EventsSuppressed', limit: 10 });
    assert.equal(summaries.total, 1);
    const summary = summaries.events[0];
    assert.deepEqual([summary?.data.ip, summary?.data.suppressed_event, summary?.data.count], ['127.0.0.1', 'UserLoginFailed', 970]);
    assert.equal((await gw.registry.store.listEvents({ limit: 1 })).total - before, 31);
    // Every failure is still a log line and counted.
    assert.equal(gw.events.filter((e) => e.event === 'UserLoginFailed').length, 1000);
    assert.equal(gw.logs.filter((line) => line.includes('"event":"UserLoginFailed"')).length, 1000);
    const metrics = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
    assert.match(metrics, /portcullis_events_dropped_total\{event="UserLoginFailed",reason="suppressed"\} 970/);
    assert.match(metrics, /portcullis_logins_total\{user_type="token",result="failure",reason="invalid_token"\} 1000/);
  } finally {
    await gw.close();
  }
});

test('an admin login in the middle of a failure flood from many addresses still reaches the webhook', async () => {
  // The receiver holds every delivery until released: the queue is certainly full when the admin signs in.
  const held: ServerResponse[] = [];
  let holding = true;
  const delivered: Array<{ event: string; username: string }> = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { event: string; username: string };
      delivered.push({ event: body.event, username: body.username });
      if (holding) held.push(res);
      else res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;
  const gw = await startGateway({
    config: {
      server: { listen: '127.0.0.1:0', public_url: 'http://localhost', trusted_proxies: ['127.0.0.1/32'] },
      events: { webhooks: [{ url: `http://127.0.0.1:${port}/hook`, secret: 'webhook-secret-of-some-length-000', types: ['UserLoggedIn', 'UserLoginFailed', 'EventsSuppressed'] }] },
    },
  });
  try {
    // 1,500 addresses, one failure each: every one is under the per-address bound, so all of them queue.
    await flood(gw, 1500, (i) => ({ 'x-forwarded-for': `10.0.${i >> 8}.${i & 255}` }));
    await gw.login('admin', ADMIN_PASSWORD);
    holding = false;
    for (const res of held.splice(0)) res.writeHead(204).end();
    for (let waited = 0; waited < 15_000 && !delivered.some((e) => e.event === 'UserLoggedIn'); waited += 100) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      delivered.some((e) => e.event === 'UserLoggedIn' && e.username === 'admin'),
      `the admin's UserLoggedIn was not delivered (${delivered.length} deliveries)`,
    );
    const metrics = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
    assert.match(metrics, /portcullis_events_dropped_total\{event="UserLoginFailed",reason="webhook_queue_full"\} \d+/);
  } finally {
    holding = false;
    for (const res of held.splice(0)) res.writeHead(204).end();
    await gw.close();
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../../src/events/bus.js';
import { FailureLimiter, FAILURES_PER_WINDOW, WINDOW_MS, type Suppression } from '../../../src/events/failure-limiter.js';
import type { DropReason, PortcullisEvent, RequestContext } from '../../../src/events/types.js';
import type { WebhookSink } from '../../../src/events/webhook.js';
import { clientKey } from '../../../src/http/client-ip.js';
import { createLogger } from '../../../src/observability/logger.js';
import type { Store } from '../../../src/store/types.js';

const T0 = Date.UTC(2026, 10, 22, 10, 0, 0);

interface Harness {
  bus: EventBus;
  clock: { now: number };
  stored: Array<{ type: string; data: Record<string, unknown> }>;
  sent: PortcullisEvent[];
  logged: Array<Record<string, unknown>>;
  drops: Array<[string, DropReason]>;
}

/** A bus over a memory store and a recording webhook, on an injected clock. */
function harness(options: { maxClients?: number } = {}): Harness {
  const clock = { now: T0 };
  const stored: Harness['stored'] = [];
  const sent: PortcullisEvent[] = [];
  const logged: Harness['logged'] = [];
  const drops: Harness['drops'] = [];
  const store = {
    insertEvent: (event: { type: string; data: Record<string, unknown> }) => {
      stored.push({ type: event.type, data: event.data });
      return Promise.resolve();
    },
  } as unknown as Store;
  const hook = {
    wants: () => true,
    deliver: (event: PortcullisEvent) => {
      sent.push(event);
      return Promise.resolve();
    },
    countDrops: () => undefined,
    close: () => undefined,
  } as unknown as WebhookSink;
  const logger = createLogger({ write: (line) => logged.push(JSON.parse(line) as Record<string, unknown>) });
  const bus = new EventBus({
    logger,
    store,
    webhooks: [hook],
    now: () => clock.now,
    onDrop: (event, reason) => drops.push([event, reason]),
    ...(options.maxClients ? { failureLimit: { maxClients: options.maxClients } } : {}),
  });
  return { bus, clock, stored, sent, logged, drops };
}

const from = (ip: string, i = 0): RequestContext => ({ ip, user_agent: 'curl/8', request_id: `req-${i}` });

function fail(h: Harness, ip: string, count: number, stepMs = 10): void {
  for (let i = 0; i < count; i++) {
    h.bus.emit('UserLoginFailed', '', { user_type: 'token', reason: 'invalid_token', method: 'bearer' }, from(ip, i));
    h.clock.now += stepMs;
  }
}

const types = (rows: Array<{ type: string }>): string[] => rows.map((row) => row.type);

test('stores and sends at most 30 failures a minute from one client, and logs every one', () => {
  const h = harness();
  fail(h, '203.0.113.7', 500);
  assert.equal(FAILURES_PER_WINDOW, 30);
  assert.equal(h.stored.length, 30);
  assert.equal(h.sent.length, 30);
  assert.equal(h.logged.filter((line) => line.event === 'UserLoginFailed').length, 500);
  assert.equal(h.drops.length, 470);
  assert.ok(h.drops.every(([event, reason]) => event === 'UserLoginFailed' && reason === 'suppressed'));
  h.bus.close();
});

test('sums up the held-back failures in one EventsSuppressed when the client’s window ends', () => {
  const h = harness();
  fail(h, '203.0.113.7', 100, 100); // 10 s of failures: 30 stored, 70 held back
  h.bus.flushSuppressed();
  assert.deepEqual(types(h.stored), new Array(30).fill('UserLoginFailed'), 'nothing summed up before the minute is over');
  h.clock.now = T0 + WINDOW_MS;
  h.bus.flushSuppressed();
  const summary = h.stored.at(-1);
  assert.equal(summary?.type, 'EventsSuppressed');
  assert.deepEqual(summary?.data, {
    ip: '203.0.113.7',
    suppressed_event: 'UserLoginFailed',
    count: 70,
    since: new Date(T0 + 30 * 100).toISOString(),
    until: new Date(T0 + 99 * 100).toISOString(),
  });
  const sent = h.sent.at(-1);
  assert.equal(sent?.event, 'EventsSuppressed');
  assert.equal(sent?.count, 70);
  assert.equal(h.logged.at(-1)?.event, 'EventsSuppressed', 'the summary is a log line too');
  h.bus.flushSuppressed();
  assert.equal(h.stored.filter((row) => row.type === 'EventsSuppressed').length, 1, 'summed up once');
  h.bus.close();
});

test('sums up the previous window before the first failure of the next one', () => {
  const h = harness();
  fail(h, '198.51.100.2', 40);
  h.clock.now = T0 + 2 * WINDOW_MS;
  fail(h, '198.51.100.2', 1);
  assert.deepEqual(types(h.stored.slice(-2)), ['EventsSuppressed', 'UserLoginFailed']);
  assert.equal(h.stored.at(-2)?.data.count, 10);
  assert.equal(h.stored.length, 32, 'a new window stores failures again');
  h.bus.close();
});

test('never holds back successful logins, admin events, or another client’s failures', () => {
  const h = harness();
  fail(h, '203.0.113.7', 200);
  h.bus.emit('UserLoggedIn', 'admin', { user_type: 'local', roles: ['admin'], method: 'form' }, from('203.0.113.7'));
  h.bus.emit('UserCreated', 'bob', { actor: 'admin', roles: ['user'], source: 'local' }, from('203.0.113.7'));
  h.bus.emit('TokenRevoked', 'bob', { actor: 'admin', scope: 'all' }, from('203.0.113.7'));
  fail(h, '203.0.113.8', 3);
  h.bus.emit('UserLoginFailed', 'cli', { user_type: 'local', reason: 'bad_password', method: 'cli' });
  const stored = types(h.stored);
  assert.equal(stored.filter((type) => type === 'UserLoginFailed').length, 30 + 3 + 1);
  for (const type of ['UserLoggedIn', 'UserCreated', 'TokenRevoked']) {
    assert.ok(stored.includes(type), `${type} stored`);
    assert.ok(
      h.sent.some((event) => event.event === type),
      `${type} sent`,
    );
  }
  h.bus.close();
});

test('counts IPv6 clients per /64, so a new address per request does not reset the bound', () => {
  const h = harness();
  for (let i = 0; i < 100; i++) {
    h.bus.emit('UserLoginFailed', '', { user_type: 'token', reason: 'invalid_token', method: 'bearer' }, from(`2001:db8:1:2::${i.toString(16)}`));
  }
  assert.equal(h.stored.length, 30);
  h.clock.now += WINDOW_MS;
  h.bus.flushSuppressed();
  assert.equal(h.stored.at(-1)?.data.ip, '2001:db8:1:2::/64');
  h.bus.close();
});

test('sums up what is held back at shutdown, and keeps bounding a client still in its window', async () => {
  const h = harness();
  fail(h, '203.0.113.7', 45);
  await h.bus.drain(100);
  assert.deepEqual({ type: h.stored.at(-1)?.type, count: h.stored.at(-1)?.data.count }, { type: 'EventsSuppressed', count: 15 });
  fail(h, '203.0.113.7', 5);
  assert.equal(h.stored.length, 31, 'the window did not start over');
  h.bus.close();
});

test('keeps a bounded number of clients and sums up the held-back failures of one pushed out', () => {
  const h = harness({ maxClients: 3 });
  fail(h, '192.0.2.1', 35);
  fail(h, '192.0.2.2', 1);
  fail(h, '192.0.2.3', 1);
  assert.equal(h.stored.filter((row) => row.type === 'EventsSuppressed').length, 0);
  fail(h, '192.0.2.4', 1);
  const summary = h.stored.find((row) => row.type === 'EventsSuppressed');
  assert.deepEqual([summary?.data.ip, summary?.data.count], ['192.0.2.1', 5]);
  h.bus.close();
});

test('a failure limiter tracks the clients it was told to, least recently used out first', () => {
  const limiter = new FailureLimiter({ limit: 1, windowMs: 1000, maxClients: 2 });
  const ended: Suppression[] = [];
  assert.equal(limiter.admit('a', 0, ended), true);
  assert.equal(limiter.admit('b', 0, ended), true);
  assert.equal(limiter.admit('a', 1, ended), false, 'a is now the most recently used');
  assert.equal(limiter.admit('c', 2, ended), true, 'b is pushed out, not a');
  assert.equal(limiter.size, 2);
  assert.equal(limiter.admit('a', 3, ended), false);
  assert.deepEqual(ended, []);
  assert.deepEqual(limiter.ended(1000), [{ ip: 'a', count: 2, since: 1, until: 3 }]);
  assert.throws(() => new FailureLimiter({ maxClients: 0 }), TypeError);
});

test('a client is its address, an IPv6 client its /64', () => {
  assert.equal(clientKey('203.0.113.7'), '203.0.113.7');
  assert.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:0db8:0001:0002::1'), '2001:db8:1:2::/64');
  assert.equal(clientKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientKey('::1'), '0:0:0:0::/64');
  assert.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientKey('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(clientKey('unknown'), 'unknown');
});

test('a field named like an event’s own keys cannot overwrite its type, time or user', () => {
  const h = harness();
  const event = h.bus.emit('UserCreated', 'bob', { event: 'UserDeleted', time: 'never', username: 'eve', actor: 'admin' });
  assert.deepEqual([event.event, event.time, event.username], ['UserCreated', new Date(T0).toISOString(), 'bob']);
  h.bus.close();
});

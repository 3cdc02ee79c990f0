import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DELIVERIES_AT_ONCE, QUEUE_LIMIT, WebhookSink } from '../../../src/events/webhook.js';
import type { PortcullisEvent } from '../../../src/events/types.js';
import { createLogger } from '../../../src/observability/logger.js';

const event = (i: number): PortcullisEvent => ({ event: 'UserLoginFailed', time: new Date(0).toISOString(), username: `u${i}` }) as unknown as PortcullisEvent;

test('a receiver that never answers holds at most a few connections and a bounded queue', async () => {
  let inFlight = 0;
  let most = 0;
  let calls = 0;
  const release: Array<() => void> = [];
  const hang = ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve, reject) => {
      calls++;
      inFlight++;
      most = Math.max(most, inFlight);
      const settle = (): void => {
        inFlight--;
        resolve(new Response(null, { status: 200 }));
      };
      release.push(settle);
      init.signal?.addEventListener('abort', () => {
        inFlight--;
        reject(new Error('aborted'));
      });
    })) as unknown as typeof fetch;
  const lines: string[] = [];
  const sink = new WebhookSink(
    { url: 'http://127.0.0.1:9/services/T0/B0/SECRETPATH', secret: 'a-webhook-secret-of-some-length', secret_file: '', types: [], timeout: 60_000, max_attempts: 1 },
    { logger: createLogger({ write: (l) => lines.push(l) }), fetch: hang },
  );
  const deliveries = Array.from({ length: 3000 }, (_, i) => sink.deliver(event(i)));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(most, DELIVERIES_AT_ONCE, 'connections in flight');
  assert.equal(calls, DELIVERIES_AT_ONCE);
  // 1996 drops are announced at the first and the thousand-and-first, with the host only: the
  // path of a Slack-style hook is its secret.
  const warnings = lines.filter((l) => l.includes('webhook queue full'));
  assert.equal(warnings.length, 2);
  assert.ok(warnings.every((w) => !w.includes('SECRETPATH') && w.includes('127.0.0.1:9')));
  // Everything queued is still delivered once the receiver answers.
  while (release.length > 0 || inFlight > 0) {
    for (const settle of release.splice(0)) settle();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(deliveries);
  assert.equal(calls, DELIVERIES_AT_ONCE + QUEUE_LIMIT);
  sink.close();
});

/** A sink whose receiver holds every delivery until released, with what it was sent and dropped. */
function heldSink(): { sink: WebhookSink; sent: string[]; drops: string[]; lines: string[]; releaseAll: () => Promise<void> } {
  const sent: string[] = [];
  const drops: string[] = [];
  const lines: string[] = [];
  const release: Array<() => void> = [];
  const hold = ((_url: string, init: RequestInit) =>
    new Promise<Response>((resolve) => {
      sent.push((JSON.parse(String(init.body)) as { event: string; username: string }).username);
      release.push(() => resolve(new Response(null, { status: 204 })));
    })) as unknown as typeof fetch;
  const sink = new WebhookSink(
    { url: 'http://127.0.0.1:9/hook', secret: 'a-webhook-secret-of-some-length', secret_file: '', types: [], timeout: 60_000, max_attempts: 1 },
    {
      logger: createLogger({ write: (l) => lines.push(l) }),
      fetch: hold,
      onDrop: (type, reason) => drops.push(`${type}:${reason}`),
    },
  );
  const releaseAll = async (): Promise<void> => {
    for (let i = 0; i < 10_000 && release.length > 0; i++) {
      for (const settle of release.splice(0)) settle();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { sink, sent, drops, lines, releaseAll };
}

const typed = (type: string, username: string): PortcullisEvent => ({ event: type, time: new Date(0).toISOString(), username }) as unknown as PortcullisEvent;

test('a queue full of login failures gives way to an admin login, which is still delivered', async () => {
  const { sink, sent, drops, releaseAll } = heldSink();
  const deliveries: Array<Promise<void>> = [];
  for (let i = 0; i < DELIVERIES_AT_ONCE + QUEUE_LIMIT + 500; i++) deliveries.push(sink.deliver(typed('UserLoginFailed', `anon${i}`)));
  deliveries.push(sink.deliver(typed('UserLoggedIn', 'admin')), sink.deliver(typed('UserDeleted', 'bob')));
  assert.deepEqual(drops.slice(-2), ['UserLoginFailed:webhook_queue_full', 'UserLoginFailed:webhook_queue_full'], 'the oldest queued failures made room');
  assert.equal(drops.length, 502);
  await releaseAll();
  await Promise.all(deliveries);
  assert.ok(sent.includes('admin') && sent.includes('bob'), 'the admin login and the deletion reached the receiver');
  assert.equal(sent.length, DELIVERIES_AT_ONCE + QUEUE_LIMIT);
  const firstQueued = DELIVERIES_AT_ONCE;
  assert.ok(!sent.includes(`anon${firstQueued}`) && !sent.includes(`anon${firstQueued + 1}`), 'the oldest queued failures were the ones taken out');
  assert.ok(sent.includes(`anon${firstQueued + 2}`));
  sink.close();
});

test('a new login failure is dropped when the queue is full, never a queued event', async () => {
  const { sink, sent, drops, releaseAll } = heldSink();
  const deliveries: Array<Promise<void>> = [];
  for (let i = 0; i < DELIVERIES_AT_ONCE + QUEUE_LIMIT; i++) deliveries.push(sink.deliver(typed('UserLoggedIn', `user${i}`)));
  deliveries.push(sink.deliver(typed('UserLoginFailed', 'late-failure')), sink.deliver(typed('EventsSuppressed', 'late-summary')), sink.deliver(typed('UserCreated', 'late-admin-event')));
  assert.deepEqual(drops, ['UserLoginFailed:webhook_queue_full', 'EventsSuppressed:webhook_queue_full', 'UserCreated:webhook_queue_full'], 'a queue of real events is not reordered');
  await releaseAll();
  await Promise.all(deliveries);
  assert.equal(sent.length, DELIVERIES_AT_ONCE + QUEUE_LIMIT);
  assert.ok(sent.every((name) => name.startsWith('user')));
  sink.close();
});

test('a summary of suppressed failures takes a failure’s place, and gives way to any other event', async () => {
  const { sink, sent, drops, releaseAll } = heldSink();
  const deliveries: Array<Promise<void>> = [];
  for (let i = 0; i < DELIVERIES_AT_ONCE; i++) deliveries.push(sink.deliver(typed('UserLoggedIn', `busy${i}`)));
  deliveries.push(sink.deliver(typed('UserLoginFailed', 'failure')));
  for (let i = 1; i < QUEUE_LIMIT; i++) deliveries.push(sink.deliver(typed('EventsSuppressed', `summary${i}`)));
  deliveries.push(sink.deliver(typed('EventsSuppressed', 'summary-new')));
  assert.deepEqual(drops, ['UserLoginFailed:webhook_queue_full'], 'the failure made room for the summary');
  deliveries.push(sink.deliver(typed('UserLoginFailed', 'failure-new')));
  deliveries.push(sink.deliver(typed('PasswordChanged', 'carol')));
  assert.deepEqual(drops.slice(1), ['UserLoginFailed:webhook_queue_full', 'EventsSuppressed:webhook_queue_full']);
  await releaseAll();
  await Promise.all(deliveries);
  assert.ok(sent.includes('summary-new') && sent.includes('carol'));
  assert.ok(!sent.includes('failure') && !sent.includes('failure-new') && !sent.includes('summary1'));
  sink.close();
});

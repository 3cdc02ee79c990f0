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
  const sink = new WebhookSink({ url: 'http://127.0.0.1:9/services/T0/B0/SECRETPATH', secret: 'a-webhook-secret-of-some-length', secret_file: '', types: [], timeout: 60_000, max_attempts: 1 }, { logger: createLogger({ write: (l) => lines.push(l) }), fetch: hang });
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

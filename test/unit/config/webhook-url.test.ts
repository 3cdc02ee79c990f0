/**
 * A webhook URL with user-info (`https://user:pass@host/`): Node's fetch refuses to build such a
 * request, so every delivery would fail. The config refuses it without repeating the password,
 * and a delivery that fails anyway is logged with its error class, never the URL's secrets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { WebhookConfig } from '../../../src/config/schema.js';
import type { PortcullisEvent } from '../../../src/events/types.js';
import { WebhookSink } from '../../../src/events/webhook.js';
import { createLogger } from '../../../src/observability/logger.js';
import { configProblems } from './config-problems.js';

const SECRET = 'k'.repeat(32);
const hook = (url: string): string => `events:\n  webhooks:\n    - url: "${url}"\n      secret: ${SECRET}\n`;

const problems = configProblems;

test('refuses a webhook URL with user-info at load, naming the key and not the password', () => {
  for (const url of ['https://hookuser:Hook-Pa55word@hooks.example.org/x', 'https://Hook-Pa55word@hooks.example.org/x', 'http://:Hook-Pa55word@hooks.example.org/']) {
    const found = problems(hook(url));
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0] as string, /^events\.webhooks\[0\]\.url: must not contain user-info/);
    assert.ok(!found.some((p) => p.includes('Pa55word') || p.includes('hookuser')), found.join('\n'));
  }
  assert.deepEqual(problems(hook('https://hooks.example.org/services/T0/B0/x?token=abc')), [], 'a secret in the path or query is fine');
});

const event = { event: 'UserLoginFailed', time: new Date(0).toISOString(), username: 'alice' } as unknown as PortcullisEvent;

async function failedLine(url: string, fetchImpl?: typeof fetch): Promise<Record<string, unknown>> {
  const lines: string[] = [];
  const config: WebhookConfig = { url, secret: SECRET, secret_file: '', types: [], timeout: 2000, max_attempts: 1 };
  const sink = new WebhookSink(config, { logger: createLogger({ write: (l) => lines.push(l) }), ...(fetchImpl ? { fetch: fetchImpl } : {}) });
  await sink.deliver(event);
  sink.close();
  const line = lines.find((l) => l.includes('webhook delivery failed'));
  assert.ok(line, lines.join(''));
  assert.ok(!line.includes('Pa55word') && !line.includes('hookuser') && !line.includes('/private-path'), line);
  return JSON.parse(line) as Record<string, unknown>;
}

test("a failed delivery is logged with the error class and system code, never the URL's user-info or path", async () => {
  // Node's own fetch: a URL with user-info throws a TypeError that quotes the whole URL.
  const refused = await failedLine('http://hookuser:Hook-Pa55word@127.0.0.1:9/private-path');
  assert.equal(refused.error, 'TypeError');
  assert.equal(refused.url, 'http://127.0.0.1:9');

  // A port nobody listens on: fetch's TypeError carries ECONNREFUSED underneath.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const down = await failedLine(`http://127.0.0.1:${port}/private-path`);
  assert.deepEqual({ error: down.error, code: down.code }, { error: 'TypeError', code: 'ECONNREFUSED' });

  const timedOut = await failedLine('https://hooks.example.org/private-path', (() =>
    Promise.reject(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))) as unknown as typeof fetch);
  assert.equal(timedOut.error, 'TimeoutError');

  const unavailable = await failedLine('https://hooks.example.org/private-path', (() => Promise.resolve(new Response(null, { status: 503 }))) as unknown as typeof fetch);
  assert.equal(unavailable.status, 503);
});

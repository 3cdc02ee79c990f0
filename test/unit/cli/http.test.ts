import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchange, MAX_BODY_BYTES, type Exchange } from '../../../src/cli/http.js';

const url = new URL('http://gw.example/.auth/api/me');
const answering = (make: () => Response): typeof fetch => (async () => make()) as typeof fetch;

function answer(result: Exchange): Extract<Exchange, { kind: 'answer' }> {
  assert.equal(result.kind, 'answer');
  return result as Extract<Exchange, { kind: 'answer' }>;
}

test('a JSON answer is parsed, an HTML one is reported as not JSON with its status, never thrown', async () => {
  const json = answer(await exchange(url, {}, { fetch: answering(() => Response.json({ username: 'alice' })) }));
  assert.deepEqual(json.body, { kind: 'json', value: { username: 'alice' } });
  const html = answer(await exchange(url, {}, { fetch: answering(() => new Response('<html>Unauthorized</html>', { status: 401 })) }));
  assert.equal(html.status, 401);
  assert.deepEqual(html.body, { kind: 'not_json' });
  assert.deepEqual(answer(await exchange(url, {}, { fetch: answering(() => new Response(null, { status: 204 })) })).body, { kind: 'empty' });
});

test('a body past the size limit is abandoned, not buffered to the end', async () => {
  let pulls = 0;
  const endless = (): Response =>
    new Response(
      new ReadableStream({
        pull(controller) {
          pulls += 1;
          controller.enqueue(new Uint8Array(100).fill(120));
        },
      }),
      { status: 200 },
    );
  const result = answer(await exchange(url, {}, { fetch: answering(endless), maxBodyBytes: 1000 }));
  assert.deepEqual(result.body, { kind: 'too_large' });
  assert.ok(pulls < 30, `read ${pulls} chunks of an endless body`);
  assert.equal(MAX_BODY_BYTES, 1024 * 1024, 'the documented limit');
});

test('a body whose declared length is past the limit is not read at all', async () => {
  const declared = (): Response =>
    new Response(
      new ReadableStream({
        pull() {
          throw new Error('the body was read');
        },
      }),
      { status: 200, headers: { 'content-length': String(MAX_BODY_BYTES + 1) } },
    );
  assert.deepEqual(answer(await exchange(url, {}, { fetch: answering(declared) })).body, { kind: 'too_large' });
});

test('a server that never answers, or never finishes its body, is given up on in time', async () => {
  let signal: AbortSignal | undefined;
  const silent = ((_input: unknown, init?: RequestInit) => {
    signal = init?.signal ?? undefined;
    return new Promise<Response>(() => undefined);
  }) as typeof fetch;
  assert.deepEqual(await exchange(url, {}, { fetch: silent, timeoutMs: 50 }), { kind: 'timeout' });
  assert.equal(signal?.aborted, true, 'the request itself is aborted');

  const trickle = (): Response => new Response(new ReadableStream({ pull: () => new Promise<void>(() => undefined) }), { status: 401 });
  const result = answer(await exchange(url, {}, { fetch: answering(trickle), timeoutMs: 50 }));
  assert.equal(result.status, 401, 'the status is known even when the body never comes');
  assert.deepEqual(result.body, { kind: 'timeout' });
});

test('a connection failure says why, from the cause fetch wraps', async () => {
  const refused = (async () => {
    throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:9') });
  }) as typeof fetch;
  assert.deepEqual(await exchange(url, {}, { fetch: refused }), { kind: 'unreachable', reason: 'fetch failed (connect ECONNREFUSED 127.0.0.1:9)' });
});

test('redirects are never followed: a token is sent only where it was addressed', async () => {
  let redirect: RequestRedirect | undefined;
  await exchange(url, { redirect: 'follow' }, { fetch: (async (_input: unknown, init?: RequestInit) => ((redirect = init?.redirect), Response.json({}))) as typeof fetch });
  assert.equal(redirect, 'error');
});

/**
 * Fail closed: an error inside the request handler, whether it happens before the handler returns
 * (a credential answered from the caches) or after it waited (one that had to be looked up or an
 * assertion to sign), is answered 500 `internal_error` with the request id, logged, and never
 * forwarded.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

let gateway: TestGateway;
let upstream: Upstream;

before(async () => {
  upstream = await startUpstream();
  gateway = await startGateway({
    config: {
      routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
      access: {
        default_policy: 'deny',
        rules: [
          { name: 'public', paths: ['/public/**'], policy: 'public' },
          { name: 'app', paths: ['/**'], policy: 'authenticated' },
        ],
      },
    },
  });
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

const basic = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

/** Replaces one method of an object for the duration of `body`. */
async function replaced<T extends object, K extends keyof T>(target: T, key: K, value: T[K], body: () => Promise<void>): Promise<void> {
  const own = Object.getOwnPropertyDescriptor(target, key);
  Object.defineProperty(target, key, { value, configurable: true, writable: true });
  try {
    await body();
  } finally {
    if (own) Object.defineProperty(target, key, own);
    else delete (target as Record<PropertyKey, unknown>)[key as PropertyKey];
  }
}

async function assertRefusedWith500(init: RequestInit, path = '/x'): Promise<void> {
  const before = upstream.received.length;
  const logged = gateway.logs.length;
  // An error nobody answers leaves the request hanging: that fails here, not at the runner's timeout.
  const response = await gateway.fetch(path, { ...init, signal: AbortSignal.timeout(10_000) });
  assert.equal(response.status, 500);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'internal_error');
  assert.match(response.headers.get('x-request-id') ?? '', /.+/);
  assert.equal(upstream.received.length, before, 'nothing reached the upstream');
  const lines = gateway.logs.slice(logged).filter((line) => line.includes('request failed'));
  assert.equal(lines.length, 1, 'the failure is logged once');
  assert.ok(lines[0]?.includes(response.headers.get('x-request-id') as string), 'under the request id it was answered with');
}

test('a cached credential: the credential is in the caches, so the request is handled without waiting', async () => {
  // The credential is cached after its first use; the handler then answers without a promise.
  assert.equal((await gateway.fetch('/x', { headers: { authorization: basic } })).status, 200);
  await replaced(
    gateway.registry.authenticator,
    'authenticateCached',
    () => {
      throw new Error('cache broken');
    },
    () => assertRefusedWith500({ headers: { authorization: basic } }),
  );
  // The public rule goes through the same lookup, without credentials.
  await replaced(
    gateway.registry.authenticator,
    'authenticateCached',
    () => {
      throw new Error('cache broken');
    },
    () => assertRefusedWith500({}, '/public/x'),
  );
  assert.equal((await gateway.fetch('/x', { headers: { authorization: basic } })).status, 200, 'served again once the fault is gone');
});

test('a credential that has to be looked up: the error after waiting is answered the same way', async () => {
  const token = 'pcl_' + 'A'.repeat(43);
  await replaced(
    gateway.registry.authenticator,
    'authenticate',
    () => Promise.reject(new Error('store broken')),
    () => assertRefusedWith500({ headers: { 'x-authentication': token } }),
  );
});

test('an assertion that fails to sign after an allowed decision is not forwarded without it', async () => {
  await replaced(
    gateway.registry.gatewayKeys,
    'cachedAssertion',
    () => undefined,
    () =>
      replaced(
        gateway.registry.gatewayKeys,
        'signAssertion',
        () => Promise.reject(new Error('key broken')),
        () => assertRefusedWith500({ headers: { authorization: basic } }),
      ),
  );
});

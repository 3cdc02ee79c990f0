/**
 * SPEC 8 hardening of API tokens, against a real gateway:
 * - a token minted with a token expires no later than its creator (a longer expires_in is clamped);
 * - a scoped token (scope, read_only) reaches only what both its user and its scope allow, on
 *   proxied routes, /.auth/verify and the API alike, and never mints a broader token.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, tokenOf, type ApiAnswer } from '../../helpers/api.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

let gw: TestGateway;
let admin: string;
let alice: string;
const DAY = 86_400_000;

const call = (token: string, method: string, path: string, body?: unknown, as?: 'bearer'): Promise<ApiAnswer> => apiCall(gw, token, method, path, body, as);
const proxied = async (token: string, method: string, path: string): Promise<number> => (await gw.fetch(path, { method, headers: { 'x-authentication': token } })).status;
const verify = async (token: string, method: string, uri: string): Promise<number> =>
  (await gw.fetch('/.auth/verify', { headers: { 'x-authentication': token, 'x-forwarded-method': method, 'x-forwarded-uri': uri, 'x-forwarded-host': 'localhost' } })).status;

/** Creates a token with `creator` and returns the answer (asserting 201). */
async function mint(creator: string, body: Record<string, unknown>, query = ''): Promise<{ id: string; token: string; expires_at: string; scope: unknown; read_only: boolean }> {
  const created = await call(creator, 'POST', `/tokens${query}`, body);
  assert.equal(created.status, 201, JSON.stringify(created.json));
  return created.json;
}

before(async () => {
  gw = await startGateway({ config: { server: { listen: '127.0.0.1:0', public_url: 'http://localhost', trusted_proxies: ['127.0.0.1/32'] } } });
  admin = await tokenOf(gw, 'admin', ADMIN_PASSWORD);
  assert.equal((await call(admin, 'POST', '/users', { username: 'alice', password: 'Alice-Passw0rd', roles: ['user', 'api'] })).status, 201);
  alice = await tokenOf(gw, 'alice', 'Alice-Passw0rd');
});
after(async () => {
  await gw?.close();
});

test('a token minted with a token expires no later than it, a longer expires_in clamped to its expiry', async () => {
  const short = await mint(alice, { name: 'short', expires_in: '2d' });
  const child = await mint(short.token, { name: 'child', expires_in: '30d' });
  assert.equal(child.expires_at, short.expires_at, 'clamped to the creator');
  const bearer = await call(short.token, 'POST', '/tokens', { name: 'bearer-child', expires_in: '300d' }, 'bearer');
  assert.equal(bearer.status, 201);
  assert.equal(bearer.json.expires_at, short.expires_at, 'Bearer opaque token: clamped too');
  const shorter = await mint(short.token, { name: 'shorter', expires_in: '1h' });
  assert.ok(Date.parse(shorter.expires_at) < Date.parse(short.expires_at), 'a shorter request is kept');
  assert.ok(Date.parse(shorter.expires_at) - Date.now() <= 3_600_000 + 5_000);
});

test('a token minted with a gateway JWT expires no later than the JWT', async () => {
  const jwt = await mint(alice, { name: 'jwt', kind: 'jwt', expires_in: '3d' });
  const child = await call(jwt.token, 'POST', '/tokens', { name: 'from-jwt', expires_in: '100d' }, 'bearer');
  assert.equal(child.status, 201, JSON.stringify(child.json));
  assert.equal(child.json.expires_at, jwt.expires_at);
});

test("an admin minting with ?user= for another user is capped by the admin's own token", async () => {
  const adminShort = await mint(admin, { name: 'admin-short', expires_in: '1d' });
  const forAlice = await mint(adminShort.token, { name: 'for-alice', expires_in: '200d' }, '?user=alice');
  assert.equal(forAlice.expires_at, adminShort.expires_at);
});

test('a session or Basic caller is not capped by this rule', async () => {
  const cookie = await gw.login('alice', 'Alice-Passw0rd');
  const res = await gw.fetch('/.auth/api/tokens', {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', 'x-requested-with': 'portcullis', origin: 'http://localhost' },
    body: JSON.stringify({ name: 'from-session', expires_in: '300d' }),
  });
  assert.equal(res.status, 201);
  const body = (await res.json()) as { expires_at: string };
  assert.ok(Date.parse(body.expires_at) - Date.now() > 299 * DAY);
});

test('a read_only token reads through a proxied route and the API, and is refused every write with 403 token_scope', async () => {
  const ro = await mint(alice, { name: 'ro', read_only: true });
  assert.equal(ro.read_only, true);
  assert.equal(ro.scope, null);
  assert.equal(await proxied(ro.token, 'GET', '/data/x'), 200);
  assert.equal(await proxied(ro.token, 'HEAD', '/data/x'), 200);
  const post = await gw.fetch('/data/x', { method: 'POST', headers: { 'x-authentication': ro.token } });
  assert.equal(post.status, 403);
  assert.equal(((await post.json()) as { error: { code: string } }).error.code, 'token_scope');
  assert.equal(await proxied(alice, 'POST', '/data/x'), 200, 'the same user unscoped may POST');
  assert.equal(await verify(ro.token, 'GET', '/data/x'), 200);
  assert.equal(await verify(ro.token, 'DELETE', '/data/x'), 403);
  assert.equal((await call(ro.token, 'GET', '/tokens')).status, 200);
  const write = await call(ro.token, 'POST', '/tokens', { name: 'nope' });
  assert.equal(write.status, 403);
  assert.equal(write.json.error.code, 'token_scope');
  assert.equal((await call(ro.token, 'DELETE', `/tokens/${ro.id}`)).status, 403);
  const denied = gw.events.filter((e) => e.event === 'AccessDenied' && e.reason === 'token_scope');
  assert.ok(
    denied.some((e) => e.path === '/data/x' && e.method === 'POST'),
    'the proxied refusal is an AccessDenied event',
  );
  assert.ok(
    denied.some((e) => e.path === '/.auth/api/tokens'),
    'the API refusal too',
  );
  const metrics = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
  assert.match(metrics, /portcullis_access_denied_total\{rule="default",reason="token_scope"\} [1-9]/);
  assert.match(metrics, /portcullis_access_denied_total\{rule="api",reason="token_scope"\} [1-9]/);
});

test("a path scope allows its paths only, even for an admin's token, and GET /.auth/api/me stays open", async () => {
  const scoped = await mint(admin, { name: 'reports', scope: { paths: ['/reports/**'], methods: ['GET', 'POST'] } });
  assert.deepEqual(scoped.scope, [{ paths: ['/reports/**'], methods: ['GET', 'POST'] }]);
  assert.equal(await proxied(scoped.token, 'GET', '/reports/q1'), 200);
  assert.equal(await proxied(scoped.token, 'POST', '/reports/q1'), 200);
  assert.equal(await proxied(scoped.token, 'DELETE', '/reports/q1'), 403, 'method outside the scope');
  assert.equal(await proxied(scoped.token, 'GET', '/admin/panel'), 403, 'path outside the scope, though the user is admin');
  assert.equal(await verify(scoped.token, 'GET', '/reports/q1'), 200);
  assert.equal(await verify(scoped.token, 'GET', '/elsewhere'), 403);
  assert.equal((await call(scoped.token, 'GET', '/users')).status, 403, 'the API is outside the scope');
  assert.equal((await call(scoped.token, 'PATCH', '/users/alice', { name: 'x' })).status, 403);
  const me = await call(scoped.token, 'GET', '/me');
  assert.equal(me.status, 200);
  assert.equal(me.json.username, 'admin');
  const listed = await call(admin, 'GET', '/tokens');
  const row = listed.json.tokens.find((t: { id: string }) => t.id === scoped.id);
  assert.deepEqual([row.scope, row.read_only], [[{ paths: ['/reports/**'], methods: ['GET', 'POST'] }], false]);
});

test('a scoped token cannot mint an unscoped or broader token: the new one carries its scope, and using it proves it', async () => {
  const scoped = await mint(alice, { name: 'api-and-reports', scope: { paths: ['/reports/**', '/.auth/api/tokens'], methods: [] } });
  const plain = await mint(scoped.token, { name: 'asks-for-nothing' });
  assert.deepEqual(plain.scope, scoped.scope, 'an unscoped request inherits the scope');
  assert.equal(await proxied(plain.token, 'GET', '/reports/a'), 200);
  assert.equal(await proxied(plain.token, 'GET', '/elsewhere'), 403);
  const wider = await mint(scoped.token, { name: 'asks-for-all', scope: { paths: ['/**'], methods: [] } });
  assert.equal((wider.scope as unknown[]).length, 2, 'both scopes, all of which must allow');
  assert.equal(await proxied(wider.token, 'GET', '/elsewhere'), 403, 'asking for /** widens nothing');
  assert.equal(await proxied(wider.token, 'GET', '/reports/a'), 200);
  const ro = await mint(scoped.token, { name: 'narrower', read_only: true, scope: { paths: ['/reports/q1'], methods: [] } });
  assert.equal(await proxied(ro.token, 'GET', '/reports/q1'), 200);
  assert.equal(await proxied(ro.token, 'GET', '/reports/q2'), 403);
  assert.equal(await proxied(ro.token, 'POST', '/reports/q1'), 403);
  // A read_only creator hands read_only down: mint one that may POST /tokens but only read elsewhere.
  const roCreator = await mint(alice, { name: 'ro-creator', scope: { paths: ['/**'], methods: [] } });
  const child = await mint(roCreator.token, { name: 'child', read_only: true });
  assert.equal(child.read_only, true);
  const grandchild = await call(child.token, 'POST', '/tokens', { name: 'grandchild' });
  assert.equal(grandchild.status, 403, 'a read_only token cannot mint at all');
});

test('a revoked scoped token is 401 everywhere', async () => {
  const scoped = await mint(alice, { name: 'to-revoke', read_only: true, scope: { paths: ['/data/**'], methods: [] } });
  assert.equal(await proxied(scoped.token, 'GET', '/data/a'), 200);
  assert.equal((await call(alice, 'DELETE', `/tokens/${scoped.id}`)).status, 204);
  assert.equal(await proxied(scoped.token, 'GET', '/data/a'), 401);
  assert.equal((await call(scoped.token, 'GET', '/me')).status, 401);
  assert.equal(await verify(scoped.token, 'GET', '/data/a'), 401);
});

test('an invalid scope or read_only is refused with the field named', async () => {
  const bad = await call(alice, 'POST', '/tokens', { name: 'bad', scope: { paths: [] }, read_only: 'yes' });
  assert.equal(bad.status, 400);
  assert.ok(bad.json.error.fields.scope);
  assert.ok(bad.json.error.fields.read_only);
  assert.equal((await call(alice, 'POST', '/tokens', { scope: { paths: ['/a'], extra: 1 } })).status, 400);
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { API_ROUTES } from '../../../src/api/router.js';

interface ApiError {
  error: { code: string; message: string; fields?: Record<string, string> };
}

describe('admin and self-service API', () => {
  let gw: TestGateway;
  let adminCookie: string;
  let adminToken: string;

  /** A JSON call as admin over the session cookie with the CSRF header. */
  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> => {
    const res = await gw.fetch(`/.auth/api${path}`, {
      method,
      headers: { cookie: adminCookie, 'x-requested-with': 'portcullis', ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };

  before(async () => {
    gw = await startGateway({
      config: { access: { default_policy: 'authenticated', rules: [{ name: 'submit', paths: ['/runs'], methods: ['POST'], roles: ['api', 'user'], quota: { requests: 10, per: '1h' } }] } },
    });
    adminCookie = await gw.login('admin', ADMIN_PASSWORD);
    const token = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    adminToken = ((await token.json()) as { token: string }).token;
  });
  after(() => gw?.close());

  test('creates a user and answers the user JSON without any hash', async () => {
    const { status, json } = await api('POST', '/users', { username: 'alice', password: 'Alice-Passw0rd', roles: ['user'], projects: ['alpha'], name: 'Alice', email: 'alice@example.org' });
    assert.equal(status, 201);
    assert.deepEqual(Object.keys(json).sort(), [
      'attributes',
      'created_at',
      'disabled',
      'email',
      'grants',
      'last_login_at',
      'must_change_password',
      'name',
      'projects',
      'quotas',
      'roles',
      'source',
      'updated_at',
      'username',
    ]);
    assert.equal(json.source, 'local');
    assert.ok(!JSON.stringify(json).includes('scrypt'));
    const event = gw.events.find((e) => e.event === 'UserCreated' && e.username === 'alice');
    assert.equal(event?.actor, 'admin');
  });

  test('validation names each field and the unmet password requirement', async () => {
    const bad = await api('POST', '/users', { username: '1bad name', password: 'short', roles: 'admin', email: 'not-an-email' });
    assert.equal(bad.status, 400);
    const fields = (bad.json as ApiError).error.fields ?? {};
    assert.match(fields.username ?? '', /start with a letter/);
    assert.match(fields.roles ?? '', /array/);
    const weak = await api('POST', '/users', { username: 'bob', password: 'alllowercase1', roles: ['user'] });
    assert.equal((weak.json as ApiError).error.fields?.password, 'must contain an upper-case letter');
    const noPassword = await api('POST', '/users', { username: 'bob', roles: ['user'] });
    assert.match((noPassword.json as ApiError).error.fields?.password ?? '', /exactly \[api\]/);
    assert.equal((await api('POST', '/users', { username: 'robot', roles: ['api'] })).status, 201, 'api-only users may have no password');
    const dup = await api('POST', '/users', { username: 'ALICE', password: 'Alice-Passw0rd', roles: ['user'] });
    assert.equal(dup.status, 409);
    const grant = await api('POST', '/users', { username: 'gina', password: 'Gina-Passw0rd', roles: ['user'], grants: [{ paths: ['re:('], methods: [] }] });
    assert.equal(grant.status, 400);
    assert.ok(Object.keys((grant.json as ApiError).error.fields ?? {}).some((k) => k.startsWith('grants')));
    const quota = await api('POST', '/users', { username: 'gina', password: 'Gina-Passw0rd', roles: ['user'], quotas: { nosuchrule: 5 } });
    assert.equal(quota.status, 400);
  });

  test('mass assignment is refused and never applied', async () => {
    for (const extra of [{ source: 'ldap' }, { password_hash: '$scrypt$x' }, { created_at: '2000-01-01' }, { auth_version: 99 }]) {
      const res = await api('POST', '/users', { username: 'mallory', password: 'Mallory-Passw0rd', roles: ['user'], ...extra });
      assert.equal(res.status, 400, JSON.stringify(extra));
    }
    const proto = await api('POST', '/users', '{"username":"mallory","password":"Mallory-Passw0rd","roles":["user"],"__proto__":{"roles":["admin"]}}');
    assert.equal(proto.status, 400);
    const ctor = await api('PATCH', '/users/alice', { constructor: { prototype: { admin: true } } });
    assert.equal(ctor.status, 400);
    assert.equal(await gw.registry.store.getUser('mallory'), undefined);
    const patch = await api('PATCH', '/users/alice', { source: 'ldap', roles: ['user'] });
    assert.equal(patch.status, 400);
    assert.equal((await gw.registry.store.getUser('alice'))?.source, 'local');
  });

  test('a cookie-authenticated change needs the CSRF header and a same-origin request; tokens do not', async () => {
    const noHeader = await gw.fetch('/.auth/api/users', {
      method: 'POST',
      headers: { cookie: adminCookie, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'csrf1', password: 'Csrf-Passw0rd1', roles: ['user'] }),
    });
    assert.equal(noHeader.status, 403);
    assert.equal(((await noHeader.json()) as ApiError).error.code, 'csrf_rejected');
    const crossSite = await api('POST', '/users', { username: 'csrf2', password: 'Csrf-Passw0rd1', roles: ['user'] }, { 'sec-fetch-site': 'cross-site' });
    assert.equal(crossSite.status, 403);
    const otherOrigin = await api('DELETE', '/users/alice', undefined, { origin: 'https://evil.example' });
    assert.equal(otherOrigin.status, 403);
    assert.equal(await gw.registry.store.getUser('csrf1'), undefined);
    assert.equal(await gw.registry.store.getUser('csrf2'), undefined);
    assert.ok(await gw.registry.store.getUser('alice'));
    const viaToken = await gw.fetch('/.auth/api/users', {
      method: 'POST',
      headers: { 'x-authentication': adminToken, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'tokenmade', password: 'Token-Passw0rd1', roles: ['user'] }),
    });
    assert.equal(viaToken.status, 201);
    const reads = await gw.fetch('/.auth/api/users', { headers: { cookie: adminCookie } });
    assert.equal(reads.status, 200, 'reads need no CSRF header');
  });

  test('guardrails: nobody deletes, disables or re-roles themselves or resets their own password; the last admin stays', async () => {
    const self = await api('DELETE', '/users/admin');
    assert.equal(self.status, 409);
    assert.equal((self.json as ApiError).error.code, 'cannot_modify_self');
    assert.equal((await api('PATCH', '/users/admin', { disabled: true })).json.error.code, 'cannot_modify_self');
    assert.equal((await api('PATCH', '/users/admin', { roles: ['user'] })).json.error.code, 'cannot_modify_self');
    // Only through /me/password, which needs the current password: a stolen session cannot take the account over.
    assert.equal((await api('PATCH', '/users/ADMIN', { password: 'Taken-0ver-Passw0rd' })).json.error.code, 'cannot_modify_self');
    assert.equal(await gw.login('admin', ADMIN_PASSWORD).then(() => 'still the old password'), 'still the old password');
    await api('POST', '/users', { username: 'root2', password: 'Root2-Passw0rd', roles: ['admin'] });
    const root2 = await gw.login('root2', 'Root2-Passw0rd');
    const asRoot2 = (method: string, path: string, body?: unknown): Promise<Response> =>
      gw.fetch(`/.auth/api${path}`, { method, headers: { cookie: root2, 'x-requested-with': 'portcullis', 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.equal((await asRoot2('PATCH', '/users/admin', { roles: ['user'] })).status, 200, 'another admin may demote admin while root2 remains');
    const last = (await (await gw.fetch('/.auth/api/users/root2', { method: 'DELETE', headers: { 'x-authentication': adminToken } })).json()) as ApiError;
    assert.equal(last.error.code, 'invalid_token', 'the demotion ended the old admin token');
    const restore = await asRoot2('PATCH', '/users/admin', { roles: ['admin'] });
    assert.equal(restore.status, 200);
    adminCookie = await gw.login('admin', ADMIN_PASSWORD);
    await api('PATCH', '/users/root2', { disabled: true });
    const lastAdmin = await gw.registry.users.update('admin', { roles: ['user'] }, { username: 'someone-else' }).catch((err: { code: string }) => err.code);
    assert.equal(lastAdmin, 'last_admin');
  });

  test('role change, disable, password change, delete and revoke end the user’s sessions and tokens at once', async () => {
    const make = async (username: string): Promise<{ cookie: string; token: string }> => {
      await api('POST', '/users', { username, password: 'Victim-Passw0rd1', roles: ['user'] });
      const cookie = await gw.login(username, 'Victim-Passw0rd1');
      const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: 'Victim-Passw0rd1' }) });
      return { cookie, token: ((await res.json()) as { token: string }).token };
    };
    const actions: Array<[string, (u: string) => Promise<unknown>]> = [
      ['roles', (u) => api('PATCH', `/users/${u}`, { roles: ['readonly'] })],
      ['disable', (u) => api('PATCH', `/users/${u}`, { disabled: true })],
      ['password', (u) => api('PATCH', `/users/${u}`, { password: 'Other-Passw0rd1' })],
      ['delete', (u) => api('DELETE', `/users/${u}`)],
      ['revoke', (u) => api('POST', `/users/${u}/revoke`)],
    ];
    for (const [name, action] of actions) {
      const username = `victim_${name}`;
      const { cookie, token } = await make(username);
      assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 200);
      await action(username);
      assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401, `${name}: session`);
      assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': token } })).status, 401, `${name}: token`);
    }
  });

  test('lists users with search, filters and paging', async () => {
    const all = await api('GET', '/users?limit=2&offset=0');
    assert.equal(all.json.users.length, 2);
    assert.ok(all.json.total >= 5);
    const page2 = await api('GET', '/users?limit=2&offset=2');
    assert.notEqual(page2.json.users[0].username, all.json.users[0].username);
    const search = await api('GET', '/users?q=ALI');
    assert.deepEqual(
      search.json.users.map((u: { username: string }) => u.username),
      ['alice'],
    );
    const byRole = await api('GET', '/users?role=api');
    assert.deepEqual(
      byRole.json.users.map((u: { username: string }) => u.username),
      ['robot'],
    );
    assert.equal((await api('GET', '/users?limit=0')).status, 400);
    assert.equal((await api('GET', '/users/nobody')).status, 404);
  });

  test('non-admins manage only themselves', async () => {
    const alice = await gw.login('alice', 'Alice-Passw0rd');
    const as = (method: string, path: string, body?: unknown): Promise<Response> =>
      gw.fetch(`/.auth/api${path}`, { method, headers: { cookie: alice, 'x-requested-with': 'portcullis', 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.equal((await as('GET', '/users')).status, 403);
    assert.equal((await as('GET', '/events')).status, 403);
    assert.equal((await as('GET', '/tokens?user=admin')).status, 403);
    const me = (await (await as('GET', '/me')).json()) as { username: string; roles: string[] };
    assert.equal(me.username, 'alice');
    const created = await as('POST', '/tokens', { name: 'laptop', expires_in: '7d' });
    assert.equal(created.status, 201);
    const token = (await created.json()) as { id: string; token: string; kind: string; expires_at: string };
    assert.equal(token.kind, 'opaque');
    assert.match(token.token, /^pcl_/);
    assert.equal((await as('POST', '/tokens', { name: 'x', kind: 'jwt' })).status, 403, 'jwt tokens need role api');
    const listed = (await (await as('GET', '/tokens')).json()) as { tokens: Array<Record<string, unknown>> };
    assert.ok(
      listed.tokens.some((t) => t.id === token.id && t.token === undefined),
      'the secret is shown once',
    );
    const adminTokens = (await api('GET', '/tokens')).json.tokens as Array<{ id: string }>;
    assert.equal((await as('DELETE', `/tokens/${adminTokens[0]?.id}`)).status, 404, 'others’ tokens are invisible');
    assert.equal((await as('DELETE', `/tokens/${token.id}`)).status, 204);
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': token.token } })).status, 401);
  });

  test('changing one’s own password needs the current one and keeps this browser signed in', async () => {
    const cookie = await gw.login('alice', 'Alice-Passw0rd');
    const call = (body: unknown): Promise<Response> =>
      gw.fetch('/.auth/api/me/password', { method: 'POST', headers: { cookie, 'x-requested-with': 'portcullis', 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const wrong = await call({ current_password: 'nope', new_password: 'Alice-Passw0rd2' });
    assert.equal(wrong.status, 400);
    const weak = await call({ current_password: 'Alice-Passw0rd', new_password: 'weak' });
    assert.equal(((await weak.json()) as ApiError).error.code, 'weak_password');
    const ok = await call({ current_password: 'Alice-Passw0rd', new_password: 'Alice-Passw0rd2' });
    assert.equal(ok.status, 200);
    const fresh = ok.headers.getSetCookie().find((c) => c.startsWith('portcullis_session=')) as string;
    assert.equal((await gw.fetch('/x', { headers: { cookie: fresh.split(';')[0] as string } })).status, 200);
    assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401, 'the old session ended');
    assert.ok(gw.events.some((e) => e.event === 'PasswordChanged' && e.username === 'alice'));
  });

  test('events are filtered and paged, newest first, with the acting user and no secrets', async () => {
    const { json } = await api('GET', '/events?type=UserCreated&limit=3');
    assert.ok(json.events.length <= 3);
    assert.ok(json.events.every((e: { event: string }) => e.event === 'UserCreated'));
    const times = json.events.map((e: { time: string }) => Date.parse(e.time));
    assert.deepEqual(
      times,
      [...times].sort((a: number, b: number) => b - a),
    );
    const updated = await api('GET', '/events?type=UserUpdated&username=alice');
    assert.ok(updated.json.events.every((e: { username: string; actor: string; changed: string[] }) => e.username === 'alice' && typeof e.actor === 'string' && Array.isArray(e.changed)));
    const since = await api('GET', '/events?since=1h');
    assert.ok(since.json.total > 0);
    assert.equal((await api('GET', '/events?since=yesterday-ish')).status, 400);
    const all = JSON.stringify((await api('GET', '/events?limit=1000')).json);
    for (const secret of ['Alice-Passw0rd', 'Victim-Passw0rd1', ADMIN_PASSWORD, 'pcl_', 'scrypt']) assert.ok(!all.includes(secret), secret);
  });

  test('unauthenticated and bad credentials get 401', async () => {
    assert.equal((await gw.fetch('/.auth/api/me')).status, 401);
    assert.equal((await gw.fetch('/.auth/api/me', { headers: { 'x-authentication': 'pcl_bogus' } })).status, 401);
  });

  test('an oversized body is refused with 413', async () => {
    const res = await api('POST', '/users', { username: 'big', password: 'Big-Passw0rd1', roles: ['user'], name: 'x'.repeat(100_000) });
    assert.equal(res.status, 413);
  });

  test('the OpenAPI document lists exactly the routes the router serves', async () => {
    const doc = (await (await gw.fetch('/.auth/api/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    assert.equal(doc.openapi, '3.1.0');
    const documented = Object.entries(doc.paths)
      .flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((k) => k !== 'parameters')
          .map((m) => `${m} ${path}`),
      )
      .sort();
    assert.deepEqual(documented, API_ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const route of API_ROUTES) {
      const path = route.path.replace('{username}', 'alice').replace('{id}', 'nope');
      const res = await gw.fetch(`/.auth/api${path}`, { method: route.method.toUpperCase(), headers: { 'x-authentication': adminToken } });
      const body = (await res.json().catch(() => ({}))) as Partial<ApiError>;
      assert.notEqual(body.error?.message, 'Not found', `${route.method} ${route.path} is served by a route`);
    }
  });
});

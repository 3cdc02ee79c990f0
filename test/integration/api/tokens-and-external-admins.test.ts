/**
 * Two guarantees around who acts as admin or api:
 * - an admin mints a token for another user with `POST /api/tokens?user=` (a password-less [api]
 *   user has no other way to get one), and never receives one of its own instead;
 * - a user record of an external issuer never holds admin or api (its identity would drop
 *   them), and such a record never counts as an enabled admin for the last-admin guard or the
 *   bootstrap.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { externalUser } from '../../../src/authn/federation.js';
import { apiCall, tokenOf as tokenOfUser, type ApiAnswer } from '../../helpers/api.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

const config = { jwt_issuers: [{ name: 'portal', issuer: 'https://portal.example.org', audience: 'portcullis', algorithms: ['HS256'], secret: 'k'.repeat(40) }] };
let dir: string;
let storeUrl: string;
let gw: TestGateway;
let admin: string;

const call = (token: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> => apiCall(gw, token, method, path, body);
const tokenOf = (username: string, password: string): Promise<string> => tokenOfUser(gw, username, password);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-admins-'));
  storeUrl = `sqlite:${join(dir, 'store.db')}`;
  gw = await startGateway({ storeUrl, config });
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  assert.equal((await call(admin, 'POST', '/users', { username: 'svc', roles: ['api'] })).status, 201);
  assert.equal((await call(admin, 'POST', '/users', { username: 'alice', password: 'Alice-Passw0rd', roles: ['user'] })).status, 201);
});
after(async () => {
  await gw?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an admin creates a token for a password-less api user, and the token is that user’s', async () => {
  const created = await call(admin, 'POST', '/tokens?user=svc', { name: 'ci', kind: 'jwt' });
  assert.equal(created.status, 201);
  assert.equal(created.json.username, 'svc');
  const me = await gw.fetch('/.auth/me', { headers: { authorization: `Bearer ${created.json.token}` } });
  assert.equal(((await me.json()) as { username: string }).username, 'svc');
  const event = gw.events.find((e) => e.event === 'TokenCreated' && e.username === 'svc');
  assert.equal(event?.actor, 'admin');
  const listed = await call(admin, 'GET', '/tokens?user=svc');
  assert.ok(listed.json.tokens.some((t: { id: string }) => t.id === created.json.id));
});

test('a token for another user needs role admin, an existing enabled user, and role api for kind jwt', async () => {
  const alice = await tokenOf('alice', 'Alice-Passw0rd');
  assert.equal((await call(alice, 'POST', '/tokens?user=svc', { name: 'steal' })).status, 403);
  assert.equal((await call(alice, 'POST', '/tokens?user=ALICE', { name: 'own' })).json.username, 'alice', 'naming oneself is one’s own token');
  assert.equal((await call(admin, 'POST', '/tokens?user=nobody', { name: 'x' })).status, 404);
  assert.equal((await call(admin, 'POST', '/tokens?user=alice', { name: 'x', kind: 'jwt' })).status, 403);
  assert.equal((await call(admin, 'PATCH', '/users/alice', { disabled: true })).status, 200);
  assert.equal((await call(admin, 'POST', '/tokens?user=alice', { name: 'x' })).status, 409);
  assert.equal((await call(admin, 'PATCH', '/users/alice', { disabled: false })).status, 200);
});

test('a user of an external issuer cannot be given admin or api', async () => {
  const created = await call(admin, 'POST', '/users', { username: 'portaladmin', roles: ['admin'], jwt_issuer: 'portal' });
  assert.equal(created.status, 400);
  assert.match(created.json.error.fields.roles, /never holds admin/);
  assert.equal((await call(admin, 'POST', '/users', { username: 'portalbot', roles: ['api'], jwt_issuer: 'portal' })).status, 400);
  assert.equal((await call(admin, 'POST', '/users', { username: 'portaluser', roles: ['user'], jwt_issuer: 'portal' })).status, 201);
  assert.equal((await call(admin, 'PATCH', '/users/portaluser', { roles: ['user', 'admin'] })).status, 400);
});

test('an external record that claims admin (written before this check) never counts as an enabled admin', async () => {
  await gw.registry.store.createUser(externalUser({ username: 'legacyadmin', name: '', email: '', roles: ['admin'], projects: [] }, 'jwt:portal', Date.now()));
  await gw.registry.users.create({ username: 'root', password: 'Root-Passw0rd!', roles: ['admin'] }, undefined);
  // Two real admins demote each other at once: one of them must stay.
  const results = await Promise.allSettled([
    gw.registry.users.update('root', { roles: ['user'] }, { username: 'admin' }),
    gw.registry.users.update('admin', { roles: ['user'] }, { username: 'root' }),
  ]);
  const refused = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason?.code));
  assert.deepEqual(refused, ['last_admin']);
});

test('a restart where only an external record claims admin bootstraps an admin who can sign in', async () => {
  const store = gw.registry.store;
  for (const name of ['admin', 'root']) {
    const user = await store.getUser(name);
    if (user?.roles.includes('admin')) await store.updateUser(name, { roles: ['user'], now: Date.now() });
  }
  await gw.close();
  gw = await startGateway({ storeUrl, config });
  const token = await tokenOf('admin', ADMIN_PASSWORD);
  assert.equal((await call(token, 'GET', '/users')).status, 200);
});

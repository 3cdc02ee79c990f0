/**
 * PostgreSQL refuses U+0000 in text. Input that carries one is a client error (400) or simply
 * not a match, never a 500 with an error-level log line that any user could write at will.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
let gw: TestGateway;
let db: { url: string; drop(): Promise<void> };
let admin: string;
let bob: string;

async function tokenOf(username: string, password: string): Promise<string> {
  const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; code: string | undefined }> {
  const res = await gw.fetch(`/.auth/api${path}`, {
    method,
    headers: { 'x-authentication': token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, code: text ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined };
}

before(async () => {
  db = await createTestDatabase();
  gw = await startGateway({ storeUrl: db.url, config: { jwt_issuers: [{ name: 'lab', issuer: 'https://lab.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET }] } });
  admin = await tokenOf('admin', ADMIN_PASSWORD);
  assert.equal((await call(admin, 'POST', '/users', { username: 'bob', password: 'Bob-Passw0rd!', roles: ['user'] })).status, 201);
  bob = await tokenOf('bob', 'Bob-Passw0rd!');
});
after(async () => {
  await gw?.close();
  await db?.drop();
});

test('a token name, a user name or an email with a NUL character is a 400', async () => {
  assert.deepEqual(await call(bob, 'POST', '/tokens', { name: 'ci\u0000token' }), { status: 400, code: 'bad_request' });
  assert.equal((await call(admin, 'PATCH', '/users/bob', { name: 'Bob\u0000Doe' })).status, 400);
  assert.equal((await call(admin, 'POST', '/users', { username: 'carol', password: 'Carol-Passw0rd!', roles: ['user'], email: 'c\u0000@example.org' })).status, 400);
});

test('list filters with a NUL character are a 400', async () => {
  for (const path of ['/users?q=%00', '/users?role=%00', '/users?source=%00', '/events?type=%00', '/events?username=a%00', '/tokens?user=admin%00']) {
    assert.equal((await call(admin, 'GET', path)).status, 400, path);
  }
});

test('an events filter reaching further back than 1970 reads from the start, not a 500', async () => {
  assert.equal((await call(admin, 'GET', '/events?since=99999999999999999999d')).status, 200);
});

test('a login, a Basic credential or a token request with a NUL character in the name is refused without a 500', async () => {
  const login = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob\u0000', password: 'Bob-Passw0rd!' }) });
  assert.ok([400, 401].includes(login.status), String(login.status));
  const basic = await gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from('bob\u0000:Bob-Passw0rd!').toString('base64') } });
  assert.equal(basic.status, 401);
  const token = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'b\u0000ob', password: 'x' }) });
  assert.ok([400, 401].includes(token.status), String(token.status));
  assert.equal(gw.logs.filter((line) => line.includes('"level":"error"')).length, 0, gw.logs.join('\n'));
});

test('an external JWT whose name or email claim holds a NUL character is refused without a 500', async () => {
  const now = Math.floor(Date.now() / 1000);
  const jwt = await new SignJWT({ roles: ['user'], name: 'Eve\u0000', email: 'eve\u0000@lab.example' })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('eve')
    .setIssuer('https://lab.example')
    .setAudience('portcullis')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(HS_SECRET));
  const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${jwt}` } });
  assert.ok(res.status < 500, String(res.status));
});

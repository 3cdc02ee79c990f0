import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, importPKCS8, jwtVerify } from 'jose';
import { WebSocket } from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-upstream-auth-'));
const ed = generateKeyPairSync('ed25519');
const edFile = join(dir, 'cc-ed25519.pem');
writeFileSync(edFile, ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
const rwFile = join(dir, 'greptime-rw');
writeFileSync(rwFile, 'rw-secret\n');
const secretKey = randomBytes(32).toString('hex');
const secretKeyFile = join(dir, 'secret.key');
writeFileSync(secretKeyFile, `${secretKey}\n`);

// An external issuer whose tokens name admin: its identity never holds it.
const portal = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const portalKeyFile = join(dir, 'portal.pem');
writeFileSync(portalKeyFile, portal.publicKey.export({ type: 'spki', format: 'pem' }));

let upstream: Upstream;
let gateway: TestGateway;
let adminAuth: string;

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return gateway.fetch(`/.auth/api${path}`, {
    method,
    headers: { authorization: adminAuth, 'content-type': 'application/json', 'x-requested-with': 'portcullis' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function createUser(username: string, roles: string[]): Promise<string> {
  const response = await api('POST', '/users', { username, password: 'Passw0rd-long!', roles });
  assert.equal(response.status, 201, await response.text());
  return `Basic ${Buffer.from(`${username}:Passw0rd-long!`).toString('base64')}`;
}

before(async () => {
  upstream = await startUpstream();
  // Readable for config check, gone when the first request needs it.
  writeFileSync(join(dir, 'later.pem'), ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  gateway = await startGateway({
    config: {
      server: { listen: '127.0.0.1:0', public_url: 'http://localhost', secret_key_file: secretKeyFile },
      jwt_issuers: [{ name: 'portal', issuer: 'https://portal.example.org', audience: 'portcullis', algorithms: ['ES256'], public_key_file: portalKeyFile, privileged_roles: 'drop' }],
      routes: [
        {
          name: 'cc',
          path_prefix: '/cc/',
          upstream: upstream.url,
          upstream_auth: {
            type: 'jwt',
            algorithm: 'EdDSA',
            key_file: edFile,
            lifetime: '5m',
            claims: { sub: '{username}', roles: '{roles}', projects: '{projects}', name: '{name}', extra: ['{roles}', 'admin'], machines: '{attr.machines}', org: '{organisation}' },
            deliver: { header: 'X-Auth-Token' },
          },
        },
        {
          name: 'ccbearer',
          path_prefix: '/ccb/',
          upstream: upstream.url,
          identity_headers: false,
          upstream_auth: { type: 'jwt', algorithm: 'EdDSA', key_file: edFile, claims: { sub: '{username}', roles: 'admin,{roles}' }, deliver: { header: 'Authorization', scheme: 'Bearer' } },
        },
        {
          name: 'cccookie',
          path_prefix: '/ccc/',
          upstream: upstream.url,
          upstream_auth: { type: 'jwt', algorithm: 'EdDSA', key_file: edFile, claims: { sub: '{username}' }, deliver: { cookie: 'cc-jwt' } },
        },
        {
          name: 'broken',
          path_prefix: '/broken/',
          upstream: upstream.url,
          upstream_auth: { type: 'jwt', algorithm: 'EdDSA', key_file: join(dir, 'later.pem'), claims: { sub: '{username}' }, deliver: { header: 'X-Auth-Token' } },
        },
        {
          name: 'greptime',
          path_prefix: '/db/',
          upstream: upstream.url,
          upstream_auth: {
            type: 'basic',
            accounts: [
              { roles: ['writeonly', 'user'], username: 'rw', password_file: rwFile },
              { roles: ['readonly'], username: 'ro', password: 'ro-secret' },
            ],
          },
        },
        { name: 'static', path_prefix: '/static/', upstream: upstream.url, upstream_auth: { type: 'header', name: 'X-Authentication', values: [{ roles: ['readonly'], value: 'viewer-token' }] } },
        {
          name: 'gmt',
          path_prefix: '/gmt/',
          upstream: upstream.url,
          upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true, fallback: { roles: ['readonly'], value: 'gmt-viewer' } },
        },
      ],
      access: { default_policy: 'authenticated', rules: [] },
    },
  });
  rmSync(join(dir, 'later.pem'));
  adminAuth = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

const edVerify = async (token: string) => jwtVerify(token, ed.publicKey, { algorithms: ['EdDSA'] });

test('a jwt upstream_auth mints an EdDSA token the backend verifies, with iat, exp, iss and the templated claims', async () => {
  const alice = await createUser('alice', ['user', 'manager']);
  await api('PATCH', '/users/alice', { projects: ['alpha'], name: 'Alice Doe', attributes: { machines: ['7', '9'] } });
  const response = await gateway.fetch('/cc/jobs', { headers: { authorization: alice } });
  assert.equal(response.status, 200);
  const got = upstream.last();
  const token = got.headers['x-auth-token'] as string;
  const { payload, protectedHeader } = await edVerify(token);
  assert.equal(protectedHeader.alg, 'EdDSA');
  assert.equal(payload.sub, 'alice');
  assert.deepEqual(payload.roles, ['manager', 'user']);
  assert.deepEqual(payload.projects, ['alpha']);
  assert.equal(payload.name, 'Alice Doe');
  assert.deepEqual(payload.machines, ['7', '9'], '{attr.KEY} is the user attribute, a JSON array in claims');
  assert.equal(payload.org, '', 'no organisations yet: {organisation} is ""');
  assert.equal(payload.iss, 'http://localhost');
  assert.equal((payload.exp as number) - (payload.iat as number), 300);
  // The literal admin in a claim is dropped: alice does not hold it.
  assert.deepEqual(payload.extra, ['manager', 'user']);
  // Identity headers are still sent.
  assert.equal(got.headers['x-auth-user'], 'alice');
  assert.ok(got.headers['x-auth-assertion']);
  assert.equal(got.headers.authorization, undefined);
});

test('a minted token is reused for the same identity and a client-sent copy never reaches the backend', async () => {
  const bob = await createUser('bob', ['user']);
  const forged = await new SignJWT({ sub: 'admin', roles: ['admin'] })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setExpirationTime('1h')
    .sign(await importPKCS8(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'EdDSA'));
  await gateway.fetch('/cc/a', { headers: { authorization: bob, 'x-auth-token': forged, 'X_Auth.Token': forged } as Record<string, string> });
  const first = upstream.last();
  await gateway.fetch('/cc/b', { headers: { authorization: bob, 'x-auth_token': forged } });
  const second = upstream.last();
  const tokens = (got: typeof first) => got.rawHeaders.filter((_, i) => i % 2 === 0 && got.rawHeaders[i]?.toLowerCase().replace(/[_.]/g, '-') === 'x-auth-token');
  assert.equal(tokens(first).length, 1);
  assert.equal(tokens(second).length, 1);
  assert.notEqual(first.headers['x-auth-token'], forged);
  assert.equal(first.headers['x-auth-token'], second.headers['x-auth-token']);
  assert.equal((await edVerify(first.headers['x-auth-token'] as string)).payload.sub, 'bob');
});

test('a template naming admin yields admin only for an identity holding it from the store', async () => {
  const carol = await createUser('carol', ['user']);
  await gateway.fetch('/ccb/x', { headers: { authorization: carol } });
  let got = upstream.last();
  assert.match(got.headers.authorization as string, /^Bearer /);
  assert.equal((await edVerify((got.headers.authorization as string).slice(7))).payload.roles, 'user');
  // identity_headers: false
  assert.equal(got.headers['x-auth-user'], undefined);
  assert.equal(got.headers['x-auth-assertion'], undefined);
  await gateway.fetch('/ccb/x', { headers: { authorization: adminAuth } });
  got = upstream.last();
  assert.equal((await edVerify((got.headers.authorization as string).slice(7))).payload.roles, 'admin,admin');
});

test('an external JWT identity never gets a privileged role into a minted token', async () => {
  const key = portal.privateKey;
  const token = await new SignJWT({ sub: 'extuser', roles: ['user', 'admin'] })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://portal.example.org')
    .setAudience('portcullis')
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(key);
  const response = await gateway.fetch('/cc/x', { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const { payload } = await edVerify(upstream.last().headers['x-auth-token'] as string);
  assert.equal(payload.sub, 'extuser');
  assert.deepEqual(payload.roles, ['user']);
  assert.deepEqual(payload.extra, ['user']);
});

test('a jwt delivered as a cookie replaces the client copy of that cookie and keeps the others', async () => {
  const dave = await createUser('dave', ['user']);
  await gateway.fetch('/ccc/x', { headers: { authorization: dave, cookie: 'theme=dark; CC-JWT=forged; cc-jwt=forged2' } });
  const cookie = upstream.last().headers.cookie as string;
  const pairs = cookie.split('; ');
  assert.equal(pairs[0], 'theme=dark');
  assert.equal(pairs.length, 2);
  assert.match(pairs[1] as string, /^cc-jwt=ey/);
  assert.equal((await edVerify((pairs[1] as string).slice(7))).payload.sub, 'dave');
});

test('an unreadable key is a 403 no_upstream_credential and nothing is forwarded', async () => {
  const before = upstream.received.length;
  const response = await gateway.fetch('/broken/x', { headers: { authorization: adminAuth } });
  assert.equal(response.status, 403);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'no_upstream_credential');
  assert.equal(upstream.received.length, before);
  assert.ok(gateway.logs.some((line) => line.includes('upstream_auth key cannot be used')));
});

test('basic picks the first account whose roles the caller holds; none is a 403 and nothing forwarded', async () => {
  const writer = await createUser('writer', ['writeonly']);
  const reader = await createUser('reader', ['readonly']);
  const both = await createUser('both', ['readonly', 'user']);
  const nobody = await createUser('nobody', ['support']);
  const basicOf = (auth: string) => Buffer.from(auth.slice(6), 'base64').toString();
  await gateway.fetch('/db/v1/sql', { headers: { authorization: writer } });
  assert.equal(basicOf(upstream.last().headers.authorization as string), 'rw:rw-secret');
  await gateway.fetch('/db/v1/sql', { headers: { authorization: reader } });
  assert.equal(basicOf(upstream.last().headers.authorization as string), 'ro:ro-secret');
  await gateway.fetch('/db/v1/sql', { headers: { authorization: both } });
  assert.equal(basicOf(upstream.last().headers.authorization as string), 'rw:rw-secret');
  const before = upstream.received.length;
  const response = await gateway.fetch('/db/v1/sql', { headers: { authorization: nobody } });
  assert.equal(response.status, 403);
  assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'no_upstream_credential');
  assert.equal(upstream.received.length, before);
  assert.ok(gateway.events.some((event) => event.event === 'AccessDenied' && event.reason === 'no_upstream_credential'));
});

test('header sends the static value of the caller role and strips a client copy in any spelling', async () => {
  const viewer = await createUser('viewer', ['readonly']);
  await gateway.fetch('/static/x', { headers: { authorization: viewer, 'x_authentication-': 'a', 'X.Authentication': 'forged' } as Record<string, string> });
  const got = upstream.last();
  assert.equal(got.headers['x-authentication'], 'viewer-token');
  assert.equal(got.rawHeaders.filter((name) => name.toLowerCase().replace(/[_.]/g, '-') === 'x-authentication').length, 1);
});

test('per_user header credentials: set with PUT, never read back or logged, deleted with DELETE and with the user', async () => {
  const erin = await createUser('erin', ['user']);
  const secret = 'gmt-token-of-erin-0123456789';
  // Without a stored value and no fallback role: 403.
  assert.equal((await gateway.fetch('/gmt/v1/x', { headers: { authorization: erin } })).status, 403);
  const put = await api('PUT', '/users/erin/upstream-credentials/gmt', { value: secret });
  assert.equal(put.status, 204, await put.text());
  assert.equal((await api('PUT', '/users/erin/upstream-credentials/static', { value: secret })).status, 404);
  assert.equal((await api('PUT', '/users/nobody_here/upstream-credentials/gmt', { value: secret })).status, 404);
  // A header drops outer spaces: a blank value would reach the backend as no credential at all.
  for (const value of [' ', ' padded', 'padded ']) assert.equal((await api('PUT', '/users/erin/upstream-credentials/gmt', { value })).status, 400, JSON.stringify(value));
  const response = await gateway.fetch('/gmt/v1/x', { headers: { authorization: erin } });
  assert.equal(response.status, 200);
  assert.equal(upstream.last().headers['x-authentication'], secret);
  const read = await (await api('GET', '/users/erin')).text();
  assert.ok(!read.includes(secret));
  assert.match(read, /"upstream_credentials":\["gmt"\]/);
  assert.ok(!gateway.logs.some((line) => line.includes(secret)), 'never logged');
  assert.ok(!JSON.stringify(gateway.events).includes(secret), 'never in events');
  assert.equal((await api('DELETE', '/users/erin/upstream-credentials/gmt')).status, 204);
  assert.equal((await gateway.fetch('/gmt/v1/x', { headers: { authorization: erin } })).status, 403);
  await api('PUT', '/users/erin/upstream-credentials/gmt', { value: secret });
  assert.deepEqual(await gateway.registry.store.listUpstreamCredentialRoutes('erin'), ['gmt']);
  assert.equal((await api('DELETE', '/users/erin')).status, 204);
  assert.deepEqual(await gateway.registry.store.listUpstreamCredentialRoutes('erin'), []);
  // Stored encrypted.
  const sealed = await gateway.registry.store.getUpstreamCredential('erin', 'gmt');
  assert.equal(sealed, undefined);
});

test('per_user falls back to the first fallback entry whose roles the caller holds', async () => {
  const ro = await createUser('rouser', ['readonly']);
  await gateway.fetch('/gmt/v1/x', { headers: { authorization: ro } });
  assert.equal(upstream.last().headers['x-authentication'], 'gmt-viewer');
  await api('PUT', '/users/rouser/upstream-credentials/gmt', { value: 'own-token' });
  await gateway.fetch('/gmt/v1/x', { headers: { authorization: ro } });
  assert.equal(upstream.last().headers['x-authentication'], 'own-token');
  const sealed = await gateway.registry.store.getUpstreamCredential('rouser', 'gmt');
  assert.ok(sealed && !Buffer.from(sealed.ciphertext, 'base64').toString().includes('own-token'));
  // Disabling the user deletes it.
  await api('PATCH', '/users/rouser', { disabled: true });
  assert.equal(await gateway.registry.store.getUpstreamCredential('rouser', 'gmt'), undefined);
});

test('a WebSocket upgrade carries the upstream credential too', async () => {
  const frank = await createUser('frank', ['user']);
  const ws = new WebSocket(`${gateway.url.replace('http', 'ws')}/cc/socket`, { headers: { authorization: frank, 'x-auth-token': 'forged' } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.close();
  const got = upstream.upgrades.at(-1);
  assert.ok(got);
  assert.equal((await edVerify(got.headers['x-auth-token'] as string)).payload.sub, 'frank');
  const refused = new WebSocket(`${gateway.url.replace('http', 'ws')}/db/socket`, { headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` } });
  const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 401);
  const nobody = `Basic ${Buffer.from('nobody:Passw0rd-long!').toString('base64')}`;
  const denied = new WebSocket(`${gateway.url.replace('http', 'ws')}/db/socket`, { headers: { authorization: nobody } });
  assert.equal(await new Promise<number>((resolve) => denied.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))), 403);
});

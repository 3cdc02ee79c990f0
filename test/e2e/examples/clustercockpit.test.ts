/**
 * examples/clustercockpit in front of a stand-in for cc-backend that checks its credential the
 * way cc-backend's internal/auth does: AuthViaJWT reads X-Auth-Token, else Authorization with
 * "Bearer " trimmed; only EdDSA is accepted, verified with JWT_PUBLIC_KEY; with validateUser
 * false the user is `sub` (required) with the `roles` claim (an array) and the projects claim.
 * The cross-login cookie (jwtCookieSession) is read at /login and verified with
 * CROSS_LOGIN_JWT_PUBLIC_KEY when `iss` is the trustedIssuer. This stand-in also requires `exp`.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { exampleConfig } from './example-config.js';

interface CcUser {
  username: string;
  roles: string[];
  projects: string[];
  via: string;
}

async function ccAuthenticate(req: IncomingMessage, publicKey: KeyObject, trustedIssuer: string): Promise<CcUser | undefined> {
  const cookie = /(?:^|;\s*)cc-jwt=([^;]+)/.exec(req.headers.cookie ?? '')?.[1];
  let raw = (req.headers['x-auth-token'] as string | undefined) ?? '';
  let via = 'token';
  if (raw === '') raw = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  if (raw === '' && req.url?.startsWith('/login') && cookie) {
    raw = cookie;
    via = 'cookie';
  }
  if (raw === '') return undefined;
  try {
    if (decodeProtectedHeader(raw).alg !== 'EdDSA') return undefined;
    const { payload } = await jwtVerify(raw, publicKey, { algorithms: ['EdDSA'], requiredClaims: ['exp'] });
    if (via === 'cookie' && payload.iss !== trustedIssuer) return undefined;
    if (typeof payload.sub !== 'string' || payload.sub === '') return undefined;
    const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
    const projects = Array.isArray(payload.projects) ? payload.projects.filter((p): p is string => typeof p === 'string') : [];
    return { username: payload.sub, roles, projects, via };
  } catch {
    return undefined;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-cc-'));
const keys = generateKeyPairSync('ed25519');
writeFileSync(join(dir, 'cc-ed25519.pem'), keys.privateKey.export({ type: 'pkcs8', format: 'pem' }));
let cc: Server;
let ccUrl = '';
let gateway: TestGateway;
const seen: CcUser[] = [];
const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const basic = (name: string) => `Basic ${Buffer.from(`${name}:Passw0rd-long!`).toString('base64')}`;

async function api(method: string, path: string, body: unknown, auth = admin): Promise<Response> {
  return gateway.fetch(`/.auth/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json', 'x-requested-with': 'portcullis' }, body: JSON.stringify(body) });
}

before(async () => {
  cc = createServer((req, res) => {
    void ccAuthenticate(req, keys.publicKey, 'https://hpc.example.org').then((user) => {
      if (!user) {
        res.writeHead(401).end('Unauthorized');
        return;
      }
      seen.push(user);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(user));
    });
  });
  await new Promise<void>((resolve) => cc.listen(0, '127.0.0.1', resolve));
  ccUrl = `http://127.0.0.1:${(cc.address() as AddressInfo).port}`;
  gateway = await startGateway({ config: exampleConfig('clustercockpit', dir, ccUrl) });
  for (const [username, roles, projects] of [
    ['alice', ['user'], []],
    ['maria', ['manager'], ['alpha', 'beta']],
    ['sam', ['support'], []],
  ] as const) {
    assert.equal((await api('POST', '/users', { username, password: 'Passw0rd-long!', roles, projects })).status, 201);
  }
  assert.equal((await api('POST', '/users', { username: 'slurm', roles: ['api'] })).status, 201);
});

after(async () => {
  await gateway?.close();
  await new Promise((resolve) => cc?.close(resolve));
});

test("cc-backend receives the gateway's roles and projects in its own EdDSA JWT (validateUser: false)", async () => {
  const response = await gateway.fetch('/monitoring/jobs/', { headers: { authorization: basic('maria') } });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { username: 'maria', roles: ['manager'], projects: ['alpha', 'beta'], via: 'token' });
  const support = (await (await gateway.fetch('/monitoring/jobs/', { headers: { authorization: basic('sam') } })).json()) as CcUser;
  assert.deepEqual(support.roles, ['support']);
});

test('a user cannot reach the admin pages, and a forged X-Auth-Token naming admin never reaches cc-backend', async () => {
  assert.equal((await gateway.fetch('/monitoring/users/', { headers: { authorization: basic('alice') } })).status, 403);
  const forged = await new SignJWT({ sub: 'alice', roles: ['admin'] }).setProtectedHeader({ alg: 'EdDSA' }).setExpirationTime('1h').sign(generateKeyPairSync('ed25519').privateKey);
  const response = await gateway.fetch('/monitoring/jobs/', { headers: { authorization: basic('alice'), 'x-auth-token': forged } });
  assert.deepEqual(((await response.json()) as CcUser).roles, ['user']);
  // Without the gateway, that token is refused by cc-backend's check (the stand-in is strict).
  assert.equal((await fetch(`${ccUrl}/monitoring/jobs/`, { headers: { 'x-auth-token': forged } })).status, 401);
});

test('an API user submits jobs with a gateway token; the REST API is closed to plain users', async () => {
  // A password-less [api] user gets its token from an admin (?user=).
  const created = await api('POST', '/tokens?user=slurm', { name: 'cc-submit', expires_in: '30d' });
  assert.equal(created.status, 201);
  const { token } = (await created.json()) as { token: string };
  const response = await gateway.fetch('/api/jobs/start_job/', { method: 'POST', headers: { 'x-authentication': token, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { username: 'slurm', roles: ['api'], projects: [], via: 'token' });
  assert.equal((await gateway.fetch('/api/jobs/start_job/', { method: 'POST', headers: { authorization: basic('alice') }, body: '{}' })).status, 403);
});

test('the browser UI logs in to cc-backend through the cross-login cookie', async () => {
  const session = await gateway.login('alice', 'Passw0rd-long!');
  const response = await gateway.fetch('/login', { headers: { cookie: `${session}; cc-jwt=stale` } });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { username: 'alice', roles: ['user'], projects: [], via: 'cookie' });
});

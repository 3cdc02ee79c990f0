/**
 * examples/weka against the real OpenLDAP fixture directory (over ldaps, its CA in place of the
 * example's): the example's `ldap.url` is the only key moved to the test's slapd, every other key
 * is the file's. The built CLI logs in (`login --server URL USER PASS`, token file from
 * PORTCULLIS_TOKEN_FILE) and calls `whoami`. The stand-in backend trusts nothing but an
 * X-Auth-Assertion it verifies with the gateway's JWKS (audience weka, issuer public_url).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startSlapd, type Slapd } from '../../helpers/slapd.js';
import { exampleConfig } from './example-config.js';

const CLI = new URL('../../../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'portcullis-weka-'));
let slapd: Slapd;
let gateway: TestGateway;
let weka: Server;
/** What the stand-in accepted: the verified assertion's claims, and the header's user. */
const received: Array<{ claims: JWTPayload; user: string | undefined; path: string }> = [];
const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;

function cli(args: string[], tokenFile: string, input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PORTCULLIS_')) env[k] = v;
  env.HOME = dir;
  env.PORTCULLIS_TOKEN_FILE = tokenFile;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

before(async () => {
  slapd = await startSlapd({ tls: true });
  assert.ok(slapd.ldapsUrl && slapd.caFile);
  copyFileSync(slapd.caFile, join(dir, 'ldap-ca.pem'));
  writeFileSync(join(dir, 'ldap-bind-password'), `${slapd.bindPassword}\n`);
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  weka = createServer((req, res) => {
    const assertion = req.headers['x-auth-assertion'];
    if (jwks === undefined || typeof assertion !== 'string') {
      res.writeHead(401).end('{"message":"no assertion"}');
      return;
    }
    jwtVerify(assertion, jwks, { issuer: 'https://weka.example.org', audience: 'weka', algorithms: ['ES256'] }).then(
      ({ payload }) => {
        received.push({ claims: payload, user: req.headers['x-auth-user'] as string | undefined, path: req.url ?? '' });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { user: payload.sub } }));
      },
      () => res.writeHead(401).end('{"message":"bad assertion"}'),
    );
  });
  await new Promise<void>((resolve) => weka.listen(0, '127.0.0.1', resolve));
  const config = exampleConfig('weka', dir, `http://127.0.0.1:${(weka.address() as AddressInfo).port}`) as { ldap: Record<string, unknown> };
  assert.equal(config.ldap.bind_dn, slapd.bindDn, "the example names the fixture directory's service account");
  config.ldap.url = slapd.ldapsUrl;
  gateway = await startGateway({ config });
  jwks = createRemoteJWKSet(new URL(`${gateway.url}/.auth/jwks.json`));
  const created = await gateway.fetch('/.auth/api/users', {
    method: 'POST',
    headers: { authorization: admin, 'content-type': 'application/json', 'x-requested-with': 'portcullis' },
    body: JSON.stringify({ username: 'opsadmin', password: 'Local-Passw0rd!', roles: ['manager'] }),
  });
  assert.equal(created.status, 201, await created.text());
});

after(async () => {
  await gateway?.close();
  await slapd?.stop();
  await new Promise((resolve) => weka?.close(resolve));
});

function eventsOf(name: string, username: string) {
  return gateway.events.filter((e) => e.event === name && e.username === username);
}

test('a local user logs in with the CLI: token file 0600, whoami, UserLoggedIn (local)', async () => {
  const file = join(dir, 'ops', 'auth-token.json');
  const login = await cli(['login', '--server', gateway.url, 'opsadmin', 'Local-Passw0rd!'], file);
  assert.equal(login.code, 0, login.stderr);
  assert.ok(!login.stdout.includes('Local-Passw0rd!') && !login.stderr.includes('Local-Passw0rd!'));
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { server: string; username: string; token: string };
  assert.equal(saved.server, gateway.url);
  assert.equal(saved.username, 'opsadmin');
  const who = JSON.parse((await cli(['whoami', '--json'], file)).stdout) as { username: string; source: string; roles: string[] };
  assert.deepEqual([who.username, who.source, who.roles], ['opsadmin', 'local', ['manager']]);
  // The password login is `local`; later logins with the saved token are `token` events.
  assert.ok(eventsOf('UserLoggedIn', 'opsadmin').some((e) => e.user_type === 'local'));
  // The saved token reaches WEKA as opsadmin, in a verified assertion.
  const response = await gateway.fetch('/api/v2/cluster', { headers: { authorization: `Bearer ${saved.token}` } });
  assert.equal(response.status, 200);
  assert.equal(received.at(-1)?.claims.sub, 'opsadmin');
});

test('a name the store does not know is an LDAP login: whoami shows the directory roles and projects', async () => {
  const file = join(dir, 'alice.json');
  const login = await cli(['login', '--server', gateway.url, 'alice', 'Alice-Ldap-1'], file);
  assert.equal(login.code, 0, login.stderr);
  const who = JSON.parse((await cli(['whoami', '--json'], file)).stdout) as { username: string; source: string; roles: string[]; projects: string[] };
  assert.deepEqual([who.username, who.source, who.roles, who.projects], ['alice', 'ldap', ['user'], ['alpha']]);
  assert.ok(eventsOf('UserLoggedIn', 'alice').some((e) => e.user_type === 'ldap'));
  const token = (JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token;
  assert.equal((await gateway.fetch('/api/v2/filesystems', { headers: { authorization: `Bearer ${token}` } })).status, 200);
  assert.deepEqual([received.at(-1)?.claims.sub, received.at(-1)?.user, received.at(-1)?.claims.roles], ['alice', 'alice', ['user']]);
  // user may read, only manager may change.
  assert.equal((await gateway.fetch('/api/v2/filesystems', { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 403);
});

test("local users come first: the directory's own admin entry never logs in as admin", async () => {
  const r = await cli(['login', '--server', gateway.url, 'admin', 'Dir-Admin-1'], join(dir, 'admin.json'));
  assert.equal(r.code, 77);
  assert.match(r.stderr, /Invalid username or password/);
  assert.deepEqual([eventsOf('UserLoginFailed', 'admin').at(-1)?.reason, eventsOf('UserLoginFailed', 'admin').at(-1)?.user_type], ['bad_password', 'local']);
});

test('failed logins name their reason; a name never seen is unknown_user whatever the directory says', async () => {
  // alice is known (she logged in above): a wrong password is bad_password.
  assert.equal((await cli(['login', '--server', gateway.url, 'alice', 'wrong-password'], join(dir, 'alice-wrong.json'))).code, 77);
  assert.deepEqual([eventsOf('UserLoginFailed', 'alice').at(-1)?.reason, eventsOf('UserLoginFailed', 'alice').at(-1)?.user_type], ['bad_password', 'ldap']);
  // bob is in the directory but has never logged in: answered like a name nobody has (no enumeration).
  assert.equal((await cli(['login', '--server', gateway.url, 'bob', 'wrong-password'], join(dir, 'bob.json'))).code, 77);
  assert.equal(eventsOf('UserLoginFailed', 'bob').at(-1)?.reason, 'unknown_user');
  assert.equal((await cli(['login', '--server', gateway.url, 'nobody', 'Whatever-1'], join(dir, 'nobody.json'))).code, 77);
  assert.equal(eventsOf('UserLoginFailed', 'nobody').at(-1)?.reason, 'unknown_user');
});

test('a forged assertion or identity header from a client never reaches WEKA', async () => {
  const file = join(dir, 'alice.json');
  const token = (JSON.parse(readFileSync(file, 'utf8')) as { token: string }).token;
  const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
  assert.equal((await gateway.fetch('/api/v2/cluster', { headers: { authorization: `Bearer ${token}`, 'x-auth-assertion': forged, 'x-auth-user': 'admin' } })).status, 200);
  assert.deepEqual([received.at(-1)?.claims.sub, received.at(-1)?.user], ['alice', 'alice']);
  const before = received.length;
  assert.equal((await gateway.fetch('/api/v2/cluster', { headers: { 'x-auth-assertion': forged } })).status, 401);
  assert.equal(received.length, before);
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Attribute, Change, Client } from 'ldapts';
import { SignJWT } from 'jose';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { fixtureLdapConfig, startSlapd, type Slapd } from '../../helpers/slapd.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const hs = new TextEncoder().encode(HS_SECRET);
const basic = (u: string, p: string): Record<string, string> => ({ authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
const token = (claims: Record<string, unknown>, iss: string): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(iss)
    .setAudience('portcullis')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(hs);
};
const bearer = (t: string): RequestInit => ({ headers: { authorization: `Bearer ${t}` } });

/** Opens a WebSocket through the gateway; resolves with the handshake's status (101 or the refusal). */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http:', 'ws:'), { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.on('error', () => undefined);
  });
}

describe('privileged roles: support is an ordinary role, no external source grants access.privileged_roles', () => {
  let slapd: Slapd;
  let gw: TestGateway;

  before(async () => {
    slapd = await startSlapd();
    gw = await startGateway({
      config: {
        ldap: fixtureLdapConfig(slapd, { role_mapping: { staff: ['user'], 'hpc-managers': ['admin'] }, allow_privileged_roles: true, cache_ttl: '0s' }),
        access: {
          privileged_roles: ['admin', 'api', 'org_admin', 'operator'],
          default_policy: 'authenticated',
          rules: [
            { name: 'admin-only', paths: ['/admin/**'], roles: ['admin'] },
            { name: 'support-jobs', paths: ['/jobs/**'], methods: ['GET'], roles: ['support'] },
          ],
        },
        jwt_issuers: [
          { name: 'portal', issuer: 'https://portal.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET },
          { name: 'dropper', issuer: 'https://dropper.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET, privileged_roles: 'drop' },
          { name: 'corp', issuer: 'https://corp.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET, users: 'existing' },
        ],
      },
    });
    await gw.registry.users.create({ username: 'sue', password: 'Sue-Passw0rd1', roles: ['support'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await slapd?.stop();
  });

  test('support gets neither GET nor a WebSocket on a rule that lists only admin, but reaches a rule that lists it', async () => {
    const sue = basic('sue', 'Sue-Passw0rd1');
    assert.equal((await gw.fetch('/admin/users', { headers: sue })).status, 403);
    assert.equal((await gw.fetch('/admin/users', { method: 'HEAD', headers: sue })).status, 403);
    assert.equal(await upgradeStatus(`${gw.url}/admin/socket`, sue), 403);
    assert.equal((await gw.fetch('/jobs/1', { headers: sue })).status, 200);
    assert.equal((await gw.fetch('/admin/users', { headers: basic('admin', ADMIN_PASSWORD) })).status, 200);
  });

  test('a JWT naming an operator-added privileged role is rejected, or has it dropped, per issuer', async () => {
    const rejected = await gw.fetch('/x', bearer(await token({ sub: 'extop', roles: ['user', 'operator'] }, 'https://portal.example')));
    assert.equal(rejected.status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'privileged_role' && e.username === 'extop'));
    const dropped = await gw.fetch('/x', bearer(await token({ sub: 'extdrop', roles: ['user', 'operator', 'admin'] }, 'https://dropper.example')));
    assert.equal(dropped.status, 200);
    assert.equal(((await dropped.json()) as { headers: Record<string, string> }).headers['x-auth-roles'], 'user');
  });

  test('users: existing never lends an external identity a privileged role the store holds', async () => {
    await gw.registry.users.create({ username: 'corpuser', roles: ['user'], source: 'jwt:corp' }, undefined);
    // Set behind the API's back (the API refuses it): the identity must still drop it.
    await gw.registry.store.updateUser('corpuser', { roles: ['operator', 'user'], now: Date.now() });
    gw.registry.userCache.invalidate('corpuser');
    const res = await gw.fetch('/x', bearer(await token({ sub: 'corpuser' }, 'https://corp.example')));
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { headers: Record<string, string> }).headers['x-auth-roles'], 'user');
    const api = await gw.fetch('/.auth/api/users/corpuser', {
      method: 'PATCH',
      headers: { ...basic('admin', ADMIN_PASSWORD), 'content-type': 'application/json' },
      body: JSON.stringify({ roles: ['operator'] }),
    });
    assert.equal(api.status, 400, 'the admin API refuses a privileged role for a jwt: user');
  });

  test('a provisioning issuer never takes the name of a directory person the gateway has not seen', async () => {
    assert.equal(await gw.registry.store.getUser('carol'), undefined, 'carol has never logged in');
    const res = await gw.fetch('/x', bearer(await token({ sub: 'carol', roles: ['user'] }, 'https://portal.example')));
    assert.equal(res.status, 401);
    assert.equal(await gw.registry.store.getUser('carol'), undefined, 'no record was created');
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'name_taken' && e.username === 'carol'));
    // A name the directory does not hold is provisioned as before.
    const fresh = await gw.fetch('/x', bearer(await token({ sub: 'newcomer', roles: ['user'] }, 'https://portal.example')));
    assert.equal(fresh.status, 200);
    assert.equal((await gw.registry.store.getUser('newcomer'))?.source, 'jwt:portal');
    // The lookup matches the name exactly: `alic` is not `alice` (no substring or wildcard match).
    const near = await gw.fetch('/x', bearer(await token({ sub: 'alic', roles: ['user'] }, 'https://portal.example')));
    assert.equal(near.status, 200);
  });

  test('a directory mapping change never removes the last enabled admin: the role is kept with a warning', async () => {
    assert.equal((await gw.fetch('/x', { headers: basic('bob', 'Bob-Ldap-1') })).status, 200);
    assert.deepEqual((await gw.registry.store.getUser('bob'))?.roles, ['admin', 'user']);
    await gw.registry.store.deleteUser('admin');
    gw.registry.userCache.invalidate('admin');
    const root = new Client({ url: slapd.url });
    await root.bind('cn=root,dc=example,dc=org', 'root-secret');
    await root.modify(
      'cn=hpc-managers,ou=groups,dc=example,dc=org',
      new Change({ operation: 'replace', modification: new Attribute({ type: 'member', values: ['uid=carol,ou=people,dc=example,dc=org'] }) }),
    );
    await root.unbind();
    assert.equal((await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: 'Bob-Ldap-1' }) })).status, 200);
    assert.ok((await gw.registry.store.getUser('bob'))?.roles.includes('admin'), 'the last admin keeps admin');
    assert.equal(await gw.registry.store.countEnabledAdmins(), 1);
    assert.ok(gw.logs.some((line) => line.includes('would remove the last enabled admin')));
  });

  test('with the directory down, a provisioning issuer provisions nobody (fails closed)', async () => {
    await slapd.stop();
    const res = await gw.fetch('/x', bearer(await token({ sub: 'latecomer', roles: ['user'] }, 'https://portal.example')));
    assert.equal(res.status, 401);
    assert.equal(await gw.registry.store.getUser('latecomer'), undefined);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'directory_unavailable' && e.username === 'latecomer'));
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, Attribute, Change } from 'ldapts';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { fixtureLdapConfig, startSlapd, type Slapd } from '../../helpers/slapd.js';

const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('the password chain with an LDAP directory behind the local users', () => {
  let slapd: Slapd;
  let gw: TestGateway;

  before(async () => {
    slapd = await startSlapd();
    gw = await startGateway({
      config: {
        ldap: fixtureLdapConfig(slapd, { cache_ttl: '1s' }),
        users: { password_hash_cost: 12, lockout: { max_failures: 3, window: '15m', duration: '15m' } },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await slapd?.stop();
  });

  test('a name the store does not know is bound against LDAP and recorded with mapped roles and projects', async () => {
    const res = await gw.fetch('/x', basic('alice', 'Alice-Ldap-1'));
    assert.equal(res.status, 200);
    const headers = ((await res.json()) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-auth-source'], 'ldap');
    assert.equal(headers['x-auth-roles'], 'user');
    assert.equal(headers['x-auth-projects'], 'alpha');
    assert.equal(headers['x-auth-name'], 'Alice Doe');
    const user = await gw.registry.store.getUser('alice');
    assert.equal(user?.source, 'ldap');
    assert.equal(user?.password_hash, null, 'no password is stored for LDAP users');
    assert.ok(gw.events.some((e) => e.event === 'UserLoggedIn' && e.username === 'alice' && e.user_type === 'ldap'));
  });

  test('a local user never falls back to LDAP, whatever the directory says', async () => {
    // The directory has its own uid=admin with another password.
    assert.equal((await gw.fetch('/x', basic('admin', 'Dir-Admin-1'))).status, 401);
    assert.equal((await gw.fetch('/x', basic('Admin', 'Dir-Admin-1'))).status, 401);
    assert.equal((await gw.fetch('/x', basic('admin ', 'Dir-Admin-1'))).status, 401);
    assert.equal((await gw.fetch('/x', basic('Admin', ADMIN_PASSWORD))).status, 200, 'a case variant is the local user');
  });

  test('an empty password is refused before any bind and counted as a failure', async () => {
    const res = await gw.fetch('/.auth/login', json({ username: 'bob', password: '' }));
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Invalid username or password/);
  });

  test('admin-set roles survive the next login while mapped roles follow the directory', async () => {
    await gw.fetch('/x', basic('bob', 'Bob-Ldap-1'));
    assert.deepEqual((await gw.registry.store.getUser('bob'))?.roles, ['manager', 'user']);
    await gw.registry.users.update('bob', { roles: ['manager', 'support', 'user'] }, { username: 'admin' });
    const res = await gw.fetch('/.auth/login', json({ username: 'bob', password: 'Bob-Ldap-1' }));
    assert.equal(res.status, 200);
    assert.deepEqual((await gw.registry.store.getUser('bob'))?.roles, ['manager', 'support', 'user']);
  });

  test('a password changed in the directory stops working once the cache TTL has passed', async () => {
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Ldap-1'))).status, 200);
    const root = new Client({ url: slapd.url });
    await root.bind('cn=root,dc=example,dc=org', 'root-secret');
    await root.modify('uid=carol,ou=people,dc=example,dc=org', new Change({ operation: 'replace', modification: new Attribute({ type: 'userPassword', values: ['Carol-Ldap-2'] }) }));
    await root.unbind();
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Ldap-1'))).status, 401);
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Ldap-2'))).status, 200);
  });

  test('LDAP failures count towards the lockout like local ones', async () => {
    for (let i = 0; i < 3; i++) await gw.fetch('/x', basic('alice', `wrong-${i}`));
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'alice', password: 'Alice-Ldap-1' }))).status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.username === 'alice' && e.reason === 'locked_out' && e.user_type === 'ldap'));
  });

  test('a directory outage fails LDAP logins closed while local users and sessions keep working, and recovers by itself', async () => {
    const session = await gw.login('admin', ADMIN_PASSWORD);
    slapd.pause();
    try {
      const api = await gw.fetch('/.auth/login', json({ username: 'bob', password: 'Bob-Ldap-1' }));
      assert.equal(api.status, 503);
      assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'directory_unavailable');
      const form = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' }, body: 'username=bob&password=Bob-Ldap-1' });
      assert.equal(form.status, 503);
      assert.match(await form.text(), /directory is unavailable/);
      assert.equal((await gw.fetch('/x', basic('nobody2', 'whatever-1'))).status, 503);
      assert.equal((await gw.fetch('/x', { headers: { cookie: session } })).status, 200);
      assert.equal((await gw.fetch('/x', basic('admin', ADMIN_PASSWORD))).status, 200);
      assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'directory_unavailable'));
    } finally {
      slapd.resume();
    }
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'bob', password: 'Bob-Ldap-1' }))).status, 200);
  });
});

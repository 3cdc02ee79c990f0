/**
 * Active Directory (SPEC 18) against a real Samba AD DC (fixed ports 389/636: the only test file
 * that starts one). Login-name forms, nested groups, the bind sub-codes, an expired password
 * changed through the login form, objectGUID as the directory id, revalidation of a disabled
 * account, injection through each name form, and a DC restarted during the test.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startSambaDc, type SambaDc } from '../../helpers/samba.js';

const PASSWORDS = { alice: 'Alice-Ad-Passw0rd1', bob: 'Bob-Ad-Passw0rd1', carol: 'Carol-Ad-Passw0rd1', dave: 'Dave-Ad-Passw0rd1', erin: 'Erin-Ad-Passw0rd1' };
const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const form = (body: Record<string, string>): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });

describe('Active Directory: a real Samba DC behind the password chain', () => {
  let dc: SambaDc;
  let gw: TestGateway;

  before(async () => {
    dc = await startSambaDc();
    for (const [name, password] of Object.entries(PASSWORDS)) dc.tool('user', 'create', name, password, `--given-name=${name}`, '--surname=Test', `--mail-address=${name}@corp.example.org`);
    // Nested groups: alice is in physics, physics in hpc-staff; hpc-staff maps to user, physics to manager.
    dc.tool('group', 'add', 'hpc-staff');
    dc.tool('group', 'add', 'physics');
    dc.tool('group', 'addmembers', 'hpc-staff', 'physics');
    dc.tool('group', 'addmembers', 'physics', 'alice');
    dc.tool('group', 'addmembers', 'hpc-staff', 'bob,carol,dave,erin');
    dc.tool('user', 'disable', 'bob');
    dc.tool('user', 'setexpiry', 'carol', '--days=0');
    gw = await startGateway({
      config: {
        ldap: {
          implementation: 'activedirectory',
          url: dc.ldapsUrl,
          tls_ca_file: dc.caFile,
          bind_dn: dc.adminDn,
          bind_password: dc.adminPassword,
          user_base: `CN=Users,${dc.baseDn}`,
          group_base: dc.baseDn,
          upn_suffixes: ['corp.example.org'],
          netbios_domain: 'CORP',
          role_mapping: { 'hpc-staff': ['user'], physics: ['manager'] },
          cache_ttl: '0s',
          timeout: '2s',
          refresh_interval: '1s',
        },
        users: { password_hash_cost: 10, lockout: { max_failures: 20, window: '15m', duration: '15m' } },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await dc?.close();
  });

  test('alice, alice@corp.example.org and CORP\\alice are one account and one identity; nested groups map', async () => {
    for (const name of ['alice', 'alice@corp.example.org', 'CORP\\alice', 'corp\\ALICE', 'Alice@Corp.Example.Org']) {
      const res = await gw.fetch('/x', basic(name, PASSWORDS.alice));
      assert.equal(res.status, 200, name);
      const headers = ((await res.json()) as { headers: Record<string, string> }).headers;
      assert.equal(headers['x-auth-user'], 'alice', name);
      assert.equal(headers['x-auth-roles'], 'manager,user', 'physics and, nested, hpc-staff');
    }
    const record = await gw.registry.store.getUser('alice');
    assert.equal(record?.source, 'ldap');
    assert.match(record?.directory_id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'objectGUID in its string form');
    assert.equal((await gw.registry.store.listUsers({ limit: 50, offset: 0 })).users.filter((u) => u.source === 'ldap').length, 1, 'one record');
  });

  test('other domains, and filter syntax in every name form, are unknown users', async () => {
    for (const name of [
      'alice@evil.example',
      'EVIL\\alice',
      'CORP\\*',
      '*@corp.example.org',
      'CORP\\al*',
      'al)(sAMAccountName=*',
      'CORP\\alice)(|(cn=*',
      'alice)(x@corp.example.org',
      'CORP\\',
      '@corp.example.org',
      'CORP\\alice\\x',
    ]) {
      assert.equal((await gw.fetch('/x', basic(name, PASSWORDS.alice))).status, 401, name);
    }
    const failed = gw.events.filter((e) => e.event === 'UserLoginFailed' && (e.username as string).includes('evil'));
    assert.ok(failed.every((e) => e.reason === 'unknown_user'));
  });

  test('sub-codes are read, but a client that did not prove the password only ever sees the one answer', async () => {
    const wrong = await gw.fetch('/.auth/login', json({ username: 'alice', password: 'Wrong-Passw0rd1' }));
    const unknown = await gw.fetch('/.auth/login', json({ username: 'nobody', password: 'Wrong-Passw0rd1' }));
    const disabledWrong = await gw.fetch('/.auth/login', json({ username: 'bob', password: 'Wrong-Passw0rd1' }));
    const bodies = await Promise.all([wrong, unknown, disabledWrong].map(async (r) => `${r.status} ${await r.text()}`));
    assert.equal(new Set(bodies).size, 1, bodies.join('\n'));
    assert.match(bodies[0] as string, /^401 .*Invalid username or password/);
    const disabled = await gw.fetch('/.auth/login', json({ username: 'bob', password: PASSWORDS.bob }));
    assert.equal(disabled.status, 401);
    assert.match(await disabled.text(), /Invalid username or password/, 'a disabled account is told nothing more either');
    const expired = await gw.fetch('/.auth/login', json({ username: 'carol', password: PASSWORDS.carol }));
    assert.equal(expired.status, 401);
    const reason = (name: string): unknown => gw.events.filter((e) => e.event === 'UserLoginFailed' && e.username === name).at(-1)?.reason;
    assert.equal(reason('alice'), 'bad_password');
    assert.equal(reason('bob'), 'account_disabled', '533 with the right password');
    assert.equal(reason('carol'), 'account_disabled', '701: the account expired');
  });

  test('an expired password (pwdLastSet=0) is 401 password_expired for JSON and Basic, and the login form changes it over ldaps', async () => {
    dc.tool('user', 'setpassword', 'dave', `--newpassword=${PASSWORDS.dave}`, '--must-change-at-next-login');
    const viaJson = await gw.fetch('/.auth/login', json({ username: 'dave', password: PASSWORDS.dave }));
    assert.equal(viaJson.status, 401);
    assert.equal(((await viaJson.json()) as { error: { code: string } }).error.code, 'password_expired');
    assert.equal(((await (await gw.fetch('/x', basic('dave', PASSWORDS.dave))).json()) as { error: { code: string } }).error.code, 'password_expired');
    assert.equal(((await (await gw.fetch('/x', basic('dave', 'Wrong-Passw0rd1'))).json()) as { error: { code: string } }).error.code, 'invalid_credentials', 'not without the password');
    const page = await gw.fetch('/.auth/login', form({ username: 'dave', password: PASSWORDS.dave, rd: '/home' }));
    assert.equal(page.status, 401);
    assert.match(await page.text(), /directory password has expired[\s\S]*name="new_password"/);
    const changed = await gw.fetch('/.auth/login', form({ username: 'dave', password: PASSWORDS.dave, new_password: 'Dave-New-Passw0rd2', rd: '/home' }));
    assert.equal(changed.status, 303);
    assert.equal(changed.headers.get('location'), '/home');
    assert.ok(
      changed.headers.getSetCookie().some((c) => c.startsWith('portcullis_session=')),
      'signed in',
    );
    assert.equal((await gw.fetch('/x', basic('dave', 'Dave-New-Passw0rd2'))).status, 200, 'the directory has the new password');
    // (Samba keeps accepting the old password for its "old password allowed period": not asserted.)
  });

  test('an empty password is refused before any bind, whatever the DC would say', async () => {
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'alice', password: '' }))).status, 401);
    assert.equal((await gw.fetch('/x', basic('CORP\\alice', ''))).status, 401);
  });

  test('a re-created account under a known name is refused until an admin re-links it; a disabled one is revalidated away', async () => {
    const session = await gw.login('erin', PASSWORDS.erin);
    assert.equal((await gw.fetch('/x', { headers: { cookie: session } })).status, 200);
    const before = (await gw.registry.store.getUser('erin'))?.directory_id;
    dc.tool('user', 'delete', 'erin');
    dc.tool('user', 'create', 'erin', PASSWORDS.erin);
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'erin', password: PASSWORDS.erin }))).status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.username === 'erin' && e.reason === 'directory_identity_changed'));
    // Revalidation ends the old person's session too (within the 1 s interval and a round).
    for (let waited = 0; waited < 5000 && (await gw.fetch('/x', { headers: { cookie: session } })).status === 200; waited += 250) await new Promise((r) => setTimeout(r, 250));
    assert.notEqual((await gw.fetch('/x', { headers: { cookie: session } })).status, 200, 'the old session ended');
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'erin' && e.reason === 'identity_changed'));
    const relink = await gw.fetch('/.auth/api/users/erin/relink', { method: 'POST', headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') } });
    assert.equal(relink.status, 200);
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'erin', password: PASSWORDS.erin }))).status, 200);
    assert.notEqual((await gw.registry.store.getUser('erin'))?.directory_id, before);

    const alice = await gw.login('alice', PASSWORDS.alice);
    dc.tool('user', 'disable', 'alice');
    for (let waited = 0; waited < 5000 && (await gw.fetch('/x', { headers: { cookie: alice } })).status === 200; waited += 250) await new Promise((r) => setTimeout(r, 250));
    assert.notEqual((await gw.fetch('/x', { headers: { cookie: alice } })).status, 200);
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'alice' && e.reason === 'disabled'));
    dc.tool('user', 'enable', 'alice');
  });

  test('a locked account (775) answers like a wrong password, even with the right one; the reason is recorded', async () => {
    dc.tool('domain', 'passwordsettings', 'set', '--account-lockout-threshold=3', '--account-lockout-duration=30', '--reset-account-lockout-after=30');
    dc.tool('user', 'create', 'frank', 'Frank-Ad-Passw0rd1');
    for (let i = 0; i < 3; i++) assert.equal((await gw.fetch('/x', basic('frank', 'Wrong-Passw0rd1'))).status, 401);
    const locked = await gw.fetch('/.auth/login', json({ username: 'frank', password: 'Frank-Ad-Passw0rd1' }));
    assert.equal(locked.status, 401);
    assert.match(await locked.text(), /Invalid username or password/);
    assert.equal(gw.events.filter((e) => e.event === 'UserLoginFailed' && e.username === 'frank').at(-1)?.reason, 'locked_out');
    dc.tool('domain', 'passwordsettings', 'set', '--account-lockout-threshold=0');
  });

  test('a DC stopped during the test: logins fail closed (503), local users keep working; after its restart logins work again', async () => {
    await dc.stop();
    const down = await gw.fetch('/.auth/login', json({ username: 'alice', password: PASSWORDS.alice }));
    assert.equal(down.status, 503);
    assert.equal(((await down.json()) as { error: { code: string } }).error.code, 'directory_unavailable');
    assert.equal((await gw.fetch('/x', basic('admin', ADMIN_PASSWORD))).status, 200, 'a local user is not held up');
    await dc.start();
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'alice', password: PASSWORDS.alice }))).status, 200);
  });
});

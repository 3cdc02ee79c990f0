/**
 * Revalidation of directory accounts (SPEC 18) against a real OpenLDAP slapd: sessions and
 * tokens of an ldap user end when the entry is deleted, disabled (ldap.disabled_filter), revoked
 * (ldap.revocation_attribute) or its mapped roles change, and not otherwise; an outage ends
 * nothing until refresh_grace; two replicas on one PostgreSQL check each user once.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Attribute, Change, Client } from 'ldapts';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { fixtureLdapConfig, startSlapd, type Slapd } from '../../helpers/slapd.js';

async function asRoot<T>(slapd: Slapd, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ url: slapd.url });
  await client.bind('cn=root,dc=example,dc=org', 'root-secret');
  try {
    return await work(client);
  } finally {
    await client.unbind();
  }
}
const replace = (type: string, values: string[]): Change => new Change({ operation: 'replace', modification: new Attribute({ type, values }) });
const until = async (check: () => Promise<boolean>, ms = 6000): Promise<boolean> => {
  for (let waited = 0; waited < ms; waited += 200) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return check();
};
const ldapConfig = (slapd: Slapd): Record<string, unknown> =>
  fixtureLdapConfig(slapd, { cache_ttl: '0s', refresh_interval: '1s', refresh_grace: '3s', disabled_filter: '(employeeType=disabled)', revocation_attribute: 'description' });

describe('revalidation against slapd', () => {
  let slapd: Slapd;
  let gw: TestGateway;
  const open = async (name: string, password: string): Promise<() => Promise<number>> => {
    const cookie = await gw.login(name, password);
    return async () => (await gw.fetch('/x', { headers: { cookie } })).status;
  };

  before(async () => {
    slapd = await startSlapd();
    gw = await startGateway({ config: { ldap: ldapConfig(slapd), users: { password_hash_cost: 10 } } });
  });
  after(async () => {
    await gw?.close();
    await slapd?.stop();
  });

  test('an unchanged account keeps its session across many checks; a change of name or mail ends nothing', async () => {
    const carol = await open('carol', 'Carol-Ldap-1');
    await asRoot(slapd, (c) => c.modify('uid=carol,ou=people,dc=example,dc=org', [replace('mail', ['carol@new.example.org'])]));
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.equal(await carol(), 200);
    assert.ok(!gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'carol'));
    assert.ok(((await gw.registry.store.getUser('carol'))?.directory_checked_at ?? 0) > Date.now() - 2500, 'checked again and again');
  });

  test('disabled by ldap.disabled_filter: the session ends within the interval, and the next login is refused', async () => {
    const bob = await open('bob', 'Bob-Ldap-1');
    await asRoot(slapd, (c) => c.modify('uid=bob,ou=people,dc=example,dc=org', [replace('employeeType', ['disabled'])]));
    assert.ok(await until(async () => (await bob()) !== 200), 'the session ended');
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'bob' && e.reason === 'disabled'));
    assert.equal((await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: 'Bob-Ldap-1' }) })).status, 401);
    await asRoot(slapd, (c) => c.modify('uid=bob,ou=people,dc=example,dc=org', [new Change({ operation: 'delete', modification: new Attribute({ type: 'employeeType' }) })]));
  });

  test('the revocation attribute changed, the mapped roles changed, the entry deleted: each ends the sessions, with its reason', async () => {
    const bob = await open('bob', 'Bob-Ldap-1');
    await asRoot(slapd, (c) => c.modify('uid=bob,ou=people,dc=example,dc=org', [replace('description', ['revoked-at-1'])]));
    assert.ok(await until(async () => (await bob()) !== 200));
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'bob' && e.reason === 'revoked'));

    const again = await open('bob', 'Bob-Ldap-1');
    await asRoot(slapd, (c) => c.modify('cn=hpc-managers,ou=groups,dc=example,dc=org', [replace('member', ['uid=carol,ou=people,dc=example,dc=org'])]));
    assert.ok(await until(async () => (await again()) !== 200));
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'bob' && e.reason === 'roles_changed'));
    assert.deepEqual((await gw.registry.store.getUser('bob'))?.roles, ['user'], 'the mapped roles follow the directory');

    const token = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bob', password: 'Bob-Ldap-1' }) });
    const { token: secret } = (await token.json()) as { token: string };
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': secret } })).status, 200);
    await asRoot(slapd, (c) => c.del('uid=bob,ou=people,dc=example,dc=org'));
    assert.ok(await until(async () => (await gw.fetch('/x', { headers: { 'x-authentication': secret } })).status === 401), 'the token ended');
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'bob' && e.reason === 'deleted'));
  });

  test('a directory outage ends nothing until refresh_grace has passed since the last good check', async () => {
    const alice = await open('alice', 'Alice-Ldap-1');
    await slapd.stop();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await alice(), 200, 'within the grace');
    assert.ok(await until(async () => (await alice()) !== 200, 8000), 'ended after the grace');
    assert.ok(gw.events.some((e) => e.event === 'DirectoryRevalidated' && e.username === 'alice' && e.reason === 'directory_unreachable'));
  });
});

describe('revalidation with two replicas on one PostgreSQL', () => {
  test('each user is checked by one replica per interval, and its end reaches both', async () => {
    const slapd = await startSlapd();
    const db = await createTestDatabase();
    const config = { ldap: { ...ldapConfig(slapd), refresh_interval: '2s' }, users: { password_hash_cost: 10 } };
    const a = await startGateway({ storeUrl: db.url, config });
    const b = await startGateway({ storeUrl: db.url, config });
    let searches = 0;
    try {
      for (const gw of [a, b]) {
        const directory = gw.registry.directory as { lookup(name: string): Promise<unknown> };
        const lookup = directory.lookup.bind(directory);
        directory.lookup = (name) => {
          searches++;
          return lookup(name);
        };
      }
      const cookie = await a.login('carol', 'Carol-Ldap-1');
      searches = 0;
      await new Promise((resolve) => setTimeout(resolve, 4500));
      assert.ok(searches >= 1 && searches <= 3, `one check per interval, not one per replica per round (${searches} in 4.5 s at 2 s)`);
      await asRoot(slapd, (c) => c.modify('uid=carol,ou=people,dc=example,dc=org', [replace('employeeType', ['disabled'])]));
      assert.ok(await until(async () => (await b.fetch('/x', { headers: { cookie } })).status !== 200 && (await a.fetch('/x', { headers: { cookie } })).status !== 200), 'ended on both replicas');
      assert.equal([...a.events, ...b.events].filter((e) => e.event === 'DirectoryRevalidated' && e.username === 'carol').length, 1, 'one replica ended it');
    } finally {
      await a.close();
      await b.close();
      await slapd.stop();
      await db.drop();
    }
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { ldapSchema } from '../../../src/config/schema.js';
import { LdapDirectory } from '../../../src/directory/ldap-directory.js';
import { escapeDnValue, escapeFilterValue } from '../../../src/directory/escape.js';
import { isPortcullisError } from '../../../src/errors/errors.js';
import { fixtureLdapConfig, freePort, startSlapd, type Slapd } from '../../helpers/slapd.js';

describe('LdapDirectory against a real slapd', () => {
  let slapd: Slapd;
  /** The fixture as written in a config file (durations as strings), before parsing. */
  let config: Record<string, unknown>;
  const ops: string[] = [];

  before(async () => {
    slapd = await startSlapd({ tls: true });
    config = fixtureLdapConfig(slapd);
  });
  after(() => slapd?.stop());

  const directory = (overrides: Record<string, unknown> = {}): LdapDirectory => new LdapDirectory(ldapSchema.parse({ ...config, ...overrides }), { onOperation: (op) => ops.push(op) });

  test('search-then-bind returns name, email, groups, mapped roles and projects', async () => {
    const result = await directory().authenticate('alice', 'Alice-Ldap-1');
    assert.equal(result.kind, 'ok');
    const { id, ...rest } = result.kind === 'ok' ? result.user : { id: '' };
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'entryUUID is the directory id');
    assert.deepEqual(rest, {
      dn: 'uid=alice,ou=people,dc=example,dc=org',
      username: 'alice',
      name: 'Alice Doe',
      email: 'alice@example.org',
      groups: ['proj-alpha', 'staff'],
      roles: ['user'],
      projects: ['alpha'],
      attributes: {},
      revocation: '',
    });
  });

  test('reads the attributes of attribute_mapping with the entry, in any case of the LDAP name, all values', async () => {
    const result = await directory({ attribute_mapping: { machines: 'employeetype', note: 'description', none: 'departmentNumber' } }).authenticate('alice', 'Alice-Ldap-1');
    assert.deepEqual(result.kind === 'ok' && result.user.attributes, { machines: ['7', '9'], note: ['a,b'] });
  });

  test('group searches are paged (ldap.page_size): every group is read, one entry a page', async () => {
    const result = await directory({ page_size: 1 }).authenticate('alice', 'Alice-Ldap-1');
    assert.deepEqual(result.kind === 'ok' && result.user.groups, ['proj-alpha', 'staff']);
  });

  test('the service account is pooled: repeated logins reuse its connections (ldap.pool_size)', async () => {
    const dir = directory({ pool_size: 1 });
    ops.length = 0;
    for (let i = 0; i < 3; i++) assert.equal((await dir.authenticate('alice', 'Alice-Ldap-1')).kind, 'ok');
    // One service bind for the pool, then one user bind per login.
    assert.equal(ops.filter((op) => op === 'bind').length, 1 + 3, ops.join(','));
    await dir.close();
  });

  test('a wrong password and an unknown user are both just invalid', async () => {
    assert.deepEqual(await directory().authenticate('alice', 'wrong'), { kind: 'invalid' });
    assert.deepEqual(await directory().authenticate('nobody', 'Alice-Ldap-1'), { kind: 'invalid' });
  });

  test('a user in no mapped group gets default_roles', async () => {
    const result = await directory().authenticate('carol', 'Carol-Ldap-1');
    assert.equal(result.kind, 'ok');
    assert.deepEqual(result.kind === 'ok' && result.user.roles, ['user']);
    const custom = await directory({ default_roles: ['readonly'] }).authenticate('carol', 'Carol-Ldap-1');
    assert.deepEqual(custom.kind === 'ok' && custom.user.roles, ['readonly']);
  });

  test('an empty password is refused before any network operation', async () => {
    ops.length = 0;
    assert.deepEqual(await directory().authenticate('alice', ''), { kind: 'invalid' });
    assert.deepEqual(ops, []);
  });

  test('wildcards and filter syntax in the name never widen the search', async () => {
    for (const name of ['*', '*)(uid=*', 'alice)(|(uid=*', 'al*', 'alice\\', '\u0000alice']) {
      assert.deepEqual(await directory().authenticate(name, 'Alice-Ldap-1'), { kind: 'invalid' }, JSON.stringify(name));
    }
    // The literal entry uid=a* exists: escaped, "a*" finds exactly it and nothing else.
    const literal = await directory().authenticate('a*', 'Star-Ldap-1');
    assert.equal(literal.kind === 'ok' && literal.user.username, 'a*');
    assert.deepEqual(await directory().authenticate('a*', 'Alice-Ldap-1'), { kind: 'invalid' });
  });

  test('escaping follows RFC 4515 and RFC 4514', () => {
    assert.equal(escapeFilterValue('*)(uid=*\\\u0000é'), '\\2a\\29\\28uid=\\2a\\5c\\00\\c3\\a9');
    assert.equal(escapeDnValue('a,b=c+d"e\\f<g>h;i'), 'a\\,b\\=c\\+d\\"e\\\\f\\<g\\>h\\;i');
    assert.equal(escapeDnValue(' #x '), '\\ #x\\ ');
  });

  test('the DN template binds directly and escapes the name into one RDN value', async () => {
    const template = directory({ user_dn_template: 'uid={username},ou=people,dc=example,dc=org', user_base: '' });
    const ok = await template.authenticate('bob', 'Bob-Ldap-1');
    assert.equal(ok.kind === 'ok' && ok.user.dn, 'uid=bob,ou=people,dc=example,dc=org');
    assert.deepEqual(ok.kind === 'ok' && ok.user.roles, ['manager', 'user']);
    for (const name of ['bob,ou=people', 'x=y', 'bob+cn=Bob Roe']) assert.deepEqual(await template.authenticate(name, 'Bob-Ldap-1'), { kind: 'invalid' }, name);
  });

  test('ldaps:// and StartTLS verify the server certificate against tls_ca_file', async () => {
    const ldaps = await directory({ url: slapd.ldapsUrl, tls_ca_file: slapd.caFile }).authenticate('bob', 'Bob-Ldap-1');
    assert.equal(ldaps.kind, 'ok');
    const startTls = await directory({ start_tls: true, tls_ca_file: slapd.caFile }).authenticate('bob', 'Bob-Ldap-1');
    assert.equal(startTls.kind, 'ok');
    const dir = mkdtempSync(join(tmpdir(), 'pcl-ca-'));
    const wrongCa = join(dir, 'other.pem');
    writeFileSync(wrongCa, (await import('node:fs')).readFileSync(new URL('../../fixtures/ldap/other-ca.pem', import.meta.url)));
    await assert.rejects(
      () => directory({ url: slapd.ldapsUrl, tls_ca_file: wrongCa }).authenticate('bob', 'Bob-Ldap-1'),
      (err: unknown) => isPortcullisError(err) && err.code === 'directory_unavailable',
    );
  });

  test('a list of URLs fails over to the next server', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    const result = await directory({ url: [dead, slapd.url] }).authenticate('alice', 'Alice-Ldap-1');
    assert.equal(result.kind, 'ok');
  });

  test('a hung directory fails closed within the timeout and works again when it resumes', async () => {
    slapd.pause();
    const started = Date.now();
    try {
      await assert.rejects(
        () => directory().authenticate('alice', 'Alice-Ldap-1'),
        (err: unknown) => isPortcullisError(err) && err.code === 'directory_unavailable',
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      slapd.resume();
    }
    assert.equal((await directory().authenticate('alice', 'Alice-Ldap-1')).kind, 'ok');
  });

  test('a directory that is down is unavailable, never a failed or successful login', async () => {
    const dead = `ldap://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      () => directory({ url: dead }).authenticate('alice', 'Alice-Ldap-1'),
      (err: unknown) => isPortcullisError(err) && err.code === 'directory_unavailable',
    );
  });

  test('a server that answers garbage is unavailable, not a login', async () => {
    const { createServer } = await import('node:net');
    const garbage = createServer((socket) => {
      socket.on('data', () => socket.write(Buffer.from('0a0b0c0d0e0f10111213141516171819', 'hex')));
    });
    await new Promise<void>((r) => garbage.listen(0, '127.0.0.1', r));
    try {
      const url = `ldap://127.0.0.1:${(garbage.address() as { port: number }).port}`;
      await assert.rejects(
        () => directory({ url }).authenticate('alice', 'Alice-Ldap-1'),
        (err: unknown) => isPortcullisError(err) && err.code === 'directory_unavailable',
      );
    } finally {
      garbage.close();
    }
  });

  test('the same instance works again after the directory restarts', async () => {
    const dir = directory();
    assert.equal((await dir.authenticate('alice', 'Alice-Ldap-1')).kind, 'ok');
    await slapd.restart();
    assert.equal((await dir.authenticate('alice', 'Alice-Ldap-1')).kind, 'ok');
  });
});

describe('the empty-bind trap', () => {
  let slapd: Slapd;
  before(async () => {
    slapd = await startSlapd({ allowAnonymousBind: true });
  });
  after(() => slapd?.stop());

  test('this directory accepts a DN with an empty password, but the gateway never sends one', async () => {
    const raw = new Client({ url: slapd.url });
    await raw.bind('uid=alice,ou=people,dc=example,dc=org', ''); // an unauthenticated bind "succeeds"
    await raw.unbind();
    const directory = new LdapDirectory(ldapSchema.parse({ url: slapd.url, user_dn_template: 'uid={username},ou=people,dc=example,dc=org' }));
    assert.deepEqual(await directory.authenticate('alice', ''), { kind: 'invalid' });
    assert.deepEqual(await directory.authenticate('alice', undefined as unknown as string), { kind: 'invalid' });
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { ldapSchema } from '../../../src/config/schema.js';
import { LdapDirectory } from '../../../src/directory/ldap-directory.js';
import { fixtureLdapConfig, startSlapd, type Slapd } from '../../helpers/slapd.js';

// A group named like an Object.prototype key, and alice in it.
const PROTOTYPE_GROUP = `
dn: cn=constructor,ou=groups,dc=example,dc=org
objectClass: groupOfNames
cn: constructor
member: uid=alice,ou=people,dc=example,dc=org
`;

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    (r) => JSON.stringify(r),
    (e: Error & { code?: string }) => `throws ${e.code ?? e.message}`,
  );

describe('LDAP connections: TLS host names, handshakes, connection hygiene', () => {
  let slapd: Slapd;
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  /** A TCP relay to slapd on another loopback address; `stall` forwards the first answer (StartTLS's) and then nothing. */
  const relay = async (port: number, address: string, stall = false): Promise<number> => {
    const server = createServer((client) => {
      const upstream = connect(port, '127.0.0.1');
      sockets.add(client).add(upstream);
      let silent = false;
      upstream.on('data', (d) => {
        if (silent) return;
        client.write(d);
        if (stall) silent = true;
      });
      client.on('data', (d) => (silent ? undefined : upstream.write(d)));
      for (const s of [client, upstream]) s.on('error', () => undefined);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, address, r));
    return (server.address() as { port: number }).port;
  };

  before(async () => {
    slapd = await startSlapd({ tls: true, ldif: readFileSync(new URL('../../fixtures/ldap/base.ldif', import.meta.url), 'utf8') + PROTOTYPE_GROUP });
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    for (const s of servers) s.close();
    await slapd?.stop();
  });

  test('StartTLS checks the certificate against the configured host, as ldaps:// does', async () => {
    // slapd's certificate names 127.0.0.1 and localhost; reached as 127.0.0.2 it is the wrong host.
    const plain = await relay(slapd.port, '127.0.0.2');
    const secure = await relay(Number(new URL(slapd.ldapsUrl as string).port), '127.0.0.2');
    const starttls = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { url: `ldap://127.0.0.2:${plain}`, start_tls: true, tls_ca_file: slapd.caFile })));
    const ldaps = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { url: `ldaps://127.0.0.2:${secure}`, tls_ca_file: slapd.caFile })));
    assert.equal(await outcome(starttls.authenticate('alice', 'Alice-Ldap-1')), 'throws directory_unavailable');
    assert.equal(await outcome(ldaps.authenticate('alice', 'Alice-Ldap-1')), 'throws directory_unavailable');
    // The right host still works, both ways.
    const right = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { start_tls: true, tls_ca_file: slapd.caFile })));
    assert.match(await outcome(right.authenticate('alice', 'Alice-Ldap-1')), /"kind":"ok"/);
    const rightLdaps = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { url: slapd.ldapsUrl as string, tls_ca_file: slapd.caFile })));
    assert.match(await outcome(rightLdaps.authenticate('alice', 'Alice-Ldap-1')), /"kind":"ok"/);
  });

  test('a directory that answers StartTLS and then goes silent fails closed within the timeout', async () => {
    const port = await relay(slapd.port, '127.0.0.1', true);
    const directory = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { url: `ldap://127.0.0.1:${port}`, start_tls: true, tls_ca_file: slapd.caFile, timeout: '500ms' })));
    const result = await Promise.race([outcome(directory.authenticate('bob', 'Bob-Ldap-1')), new Promise<string>((r) => setTimeout(() => r('still waiting after 5 s'), 5000).unref())]);
    assert.equal(result, 'throws directory_unavailable');
  });

  test('DN-template logins without a service account read groups as the user and leave no connection open', async () => {
    // Established IPv4 connections to slapd's port, from /proc/net/tcp (remote address is field 3, state 01 is ESTABLISHED).
    const established = (): number =>
      readFileSync('/proc/net/tcp', 'utf8')
        .split('\n')
        .slice(1)
        .map((line) => line.trim().split(/\s+/))
        .filter((f) => f[3] === '01' && Number.parseInt((f[2] ?? ':').split(':')[1] as string, 16) === slapd.port).length;
    const directory = new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd, { bind_dn: '', bind_password: '', user_base: '', user_dn_template: 'uid={username},ou=people,dc=example,dc=org' })));
    const before = established();
    for (let i = 0; i < 10; i++) {
      const result = await directory.authenticate('alice', 'Alice-Ldap-1');
      assert.equal(result.kind, 'ok');
      if (result.kind === 'ok') assert.deepEqual(result.user.groups, ['constructor', 'proj-alpha', 'staff'], "groups read on the user's own connection");
    }
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(established() - before, 0, 'connections left open');
  });

  test('a directory group named like an Object.prototype key maps to nothing and breaks nothing', async () => {
    const result = await new LdapDirectory(ldapSchema.parse(fixtureLdapConfig(slapd))).authenticate('alice', 'Alice-Ldap-1');
    assert.equal(result.kind, 'ok');
    if (result.kind === 'ok') assert.deepEqual([result.user.roles, result.user.projects], [['user'], ['alpha']]);
  });
});

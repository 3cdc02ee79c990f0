import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { Attribute, Change, Client } from 'ldapts';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { fixtureLdapConfig, startSlapd, type Slapd } from '../../helpers/slapd.js';

const alice = { authorization: 'Basic ' + Buffer.from('alice:Alice-Ldap-1').toString('base64') };

describe('ldap.attribute_mapping (SPEC 16)', () => {
  let slapd: Slapd;
  let gw: TestGateway;

  before(async () => {
    slapd = await startSlapd();
    gw = await startGateway({
      config: {
        // cache_ttl 0s: every request binds, so every request refreshes the mapped attributes.
        ldap: fixtureLdapConfig(slapd, { cache_ttl: '0s', attribute_mapping: { machines: 'employeeType', note: 'description', missing: 'departmentNumber' } }),
        identity_headers: { attributes: { machines: 'X-Attr-Machines', retention_days: 'X-Attr-Retention' } },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await slapd?.stop();
  });

  test('a bind records the mapped LDAP attributes, refreshes them at the next bind and keeps admin-set keys', async () => {
    const first = await gw.fetch('/x', { headers: alice });
    assert.equal(first.status, 200);
    assert.equal(((await first.json()) as { headers: Record<string, string> }).headers['x-attr-machines'], '7,9');
    let user = await gw.registry.store.getUser('alice');
    assert.deepEqual(user?.attributes, { machines: ['7', '9'], note: ['a,b'] });
    assert.deepEqual(user?.mapped_attributes, ['machines', 'note']);

    await gw.registry.users.update('alice', { attributes: { machines: ['7', '9'], note: ['a,b'], retention_days: ['365'] } }, { username: 'admin' });
    const root = new Client({ url: slapd.url });
    await root.bind('cn=root,dc=example,dc=org', 'root-secret');
    await root.modify('uid=alice,ou=people,dc=example,dc=org', [
      new Change({ operation: 'replace', modification: new Attribute({ type: 'employeeType', values: ['8'] }) }),
      new Change({ operation: 'delete', modification: new Attribute({ type: 'description', values: [] }) }),
    ]);
    await root.unbind();

    const second = await gw.fetch('/x', { headers: alice });
    assert.equal(second.status, 200);
    const headers = ((await second.json()) as { headers: Record<string, string> }).headers;
    assert.equal(headers['x-attr-machines'], '8');
    assert.equal(headers['x-attr-retention'], '365');
    user = await gw.registry.store.getUser('alice');
    assert.deepEqual(user?.attributes, { machines: ['8'], retention_days: ['365'] });
    assert.deepEqual(user?.mapped_attributes, ['machines']);
  });
});

import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { SignJWT } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

const SECRET = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');

describe('jwt_issuers[].attributes_claims (SPEC 16)', () => {
  let gw: TestGateway;
  const token = (iss: string, claims: Record<string, unknown>): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(iss)
      .setAudience('portcullis')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(SECRET);
  };
  const headersFor = async (jwt: string): Promise<Record<string, string>> => {
    const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${jwt}` } });
    assert.equal(res.status, 200);
    return ((await res.json()) as { headers: Record<string, string> }).headers;
  };
  const secret = 'a-shared-secret-of-at-least-32-bytes!!';
  const attributes_claims = { machines: 'gmt.machines', retention_days: 'retention', optimizations: 'opts' };

  before(async () => {
    gw = await startGateway({
      config: {
        jwt_issuers: [
          { name: 'gmt', issuer: 'https://gmt.example', audience: 'portcullis', algorithms: ['HS256'], secret, attributes_claims },
          { name: 'corp', issuer: 'https://corp.example', audience: 'portcullis', algorithms: ['HS256'], secret, users: 'existing', attributes_claims },
        ],
        identity_headers: { attributes: { machines: 'X-Attr-Machines', retention_days: 'X-Attr-Retention', optimizations: 'X-Attr-Opts', team: 'X-Attr-Team' } },
      },
    });
  });
  after(() => gw?.close());

  test('provision stores the claimed attributes: a string is one value, a list stays, anything else is ignored', async () => {
    const headers = await headersFor(await token('https://gmt.example', { sub: 'ann', roles: ['user'], gmt: { machines: ['7', 9, '9', 'x'.repeat(300)] }, retention: '365', opts: { cpu: true } }));
    assert.equal(headers['x-attr-machines'], '7,9');
    assert.equal(headers['x-attr-retention'], '365');
    assert.equal(headers['x-attr-opts'], undefined);
    const user = await gw.registry.store.getUser('ann');
    assert.deepEqual(user?.attributes, { machines: ['7', '9'], retention_days: ['365'] });
    assert.deepEqual(user?.mapped_attributes, ['machines', 'retention_days']);
  });

  test('the next token replaces the keys the issuer set and keeps the ones an admin set', async () => {
    await gw.registry.users.update('ann', { attributes: { machines: ['7', '9'], retention_days: ['365'], team: ['green'] } }, { username: 'admin' });
    const headers = await headersFor(await token('https://gmt.example', { sub: 'ann', roles: ['user'], gmt: { machines: '8' } }));
    assert.equal(headers['x-attr-machines'], '8');
    assert.equal(headers['x-attr-retention'], undefined);
    assert.equal(headers['x-attr-team'], 'green');
    assert.deepEqual((await gw.registry.store.getUser('ann'))?.attributes, { machines: ['8'], team: ['green'] });
  });

  test("with users: existing the store's attributes are used, never the token's", async () => {
    const created = await gw.fetch('/.auth/api/users', {
      method: 'POST',
      headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'), 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'bea', roles: ['user'], jwt_issuer: 'corp', attributes: { machines: ['1'] } }),
    });
    assert.equal(created.status, 201);
    const headers = await headersFor(await token('https://corp.example', { sub: 'bea', gmt: { machines: ['666'] }, retention: '1' }));
    assert.equal(headers['x-attr-machines'], '1');
    assert.equal(headers['x-attr-retention'], undefined);
    assert.deepEqual((await gw.registry.store.getUser('bea'))?.attributes, { machines: ['1'] });
  });
});

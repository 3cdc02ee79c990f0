import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawHeaderValues, startUpstream, type Upstream } from '../../helpers/upstream.js';

const basic = (user: string, password: string): string => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

describe('user attributes reach headers, the assertion and rules (SPEC 16)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let cookie: string;
  const gmt = basic('gmt', 'Gmt-Passw0rd');
  const other = basic('other', 'Other-Passw0rd');

  const api = async (method: string, path: string, body: unknown): Promise<Response> =>
    gw.fetch(`/.auth/api${path}`, { method, headers: { cookie, 'x-requested-with': 'portcullis', 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
        identity_headers: { attributes: { machines: 'X-Attr-Machines', note: 'X-Attr-Note', retention_days: 'X-Attr-Retention' } },
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'machine-data', paths: ['/machines/{attr.machines}/**'], policy: 'authenticated' },
            { name: 'optimised', paths: ['/opt/**'], policy: 'authenticated', attributes: { optimizations: ['cpu'] } },
            { name: 'app', paths: ['/app/**'], policy: 'authenticated' },
          ],
        },
      },
    });
    cookie = await gw.login('admin', ADMIN_PASSWORD);
    const attributes = { machines: ['7', '9'], note: ['a,b', 'Zoë'], optimizations: ['cpu'] };
    assert.equal((await api('POST', '/users', { username: 'gmt', password: 'Gmt-Passw0rd', roles: ['user'], attributes })).status, 201);
    assert.equal((await api('POST', '/users', { username: 'other', password: 'Other-Passw0rd', roles: ['user'], attributes: { optimizations: ['mem'] } })).status, 201);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('forwards each configured attribute comma-separated, a comma in a value as %2C, non-ASCII percent-encoded', async () => {
    const res = await gw.fetch('/app/x', { headers: { authorization: gmt } });
    assert.equal(res.status, 200);
    const seen = upstream.last();
    assert.deepEqual(rawHeaderValues(seen, 'x-attr-machines'), ['7,9']);
    assert.deepEqual(rawHeaderValues(seen, 'x-attr-note'), ['a%2Cb,Zo%C3%AB']);
    assert.deepEqual(rawHeaderValues(seen, 'x-attr-retention'), [], 'no header for an attribute the user does not hold');
  });

  test('strips a client-sent copy of an attribute header in any spelling', async () => {
    const res = await gw.fetch('/app/x', { headers: { authorization: other, X_Attr_Machines: '1,2,3', 'x.attr.note': 'spoof', 'X-Attr-Retention': '9999' } });
    assert.equal(res.status, 200);
    const seen = upstream.last();
    const names = [];
    for (let i = 0; i < seen.rawHeaders.length; i += 2) names.push((seen.rawHeaders[i] as string).toLowerCase().replace(/[_.]/g, '-'));
    assert.ok(!names.includes('x-attr-machines'), names.join(' '));
    assert.ok(!names.includes('x-attr-note'), names.join(' '));
    assert.ok(!names.includes('x-attr-retention'), names.join(' '));
  });

  test('the assertion carries the claim attributes, and /.auth/me the attributes', async () => {
    await gw.fetch('/app/x', { headers: { authorization: gmt } });
    const assertion = rawHeaderValues(upstream.last(), 'x-auth-assertion')[0];
    assert.ok(assertion);
    assert.deepEqual(decodeJwt(assertion).attributes, { machines: ['7', '9'], note: ['a,b', 'Zoë'], optimizations: ['cpu'] });
    await gw.fetch('/app/x', { headers: { authorization: other } });
    assert.deepEqual(decodeJwt(rawHeaderValues(upstream.last(), 'x-auth-assertion')[0] as string).attributes, { optimizations: ['mem'] });
    const me = (await (await gw.fetch('/.auth/me', { headers: { authorization: gmt } })).json()) as { attributes?: unknown };
    assert.deepEqual(me.attributes, { machines: ['7', '9'], note: ['a,b', 'Zoë'], optimizations: ['cpu'] });
  });

  test("a {attr.machines} path and an attributes: condition allow and deny by the caller's attributes", async () => {
    assert.equal((await gw.fetch('/machines/7/jobs', { headers: { authorization: gmt } })).status, 200);
    assert.equal((await gw.fetch('/machines/9/jobs', { headers: { authorization: gmt } })).status, 200);
    assert.equal((await gw.fetch('/machines/8/jobs', { headers: { authorization: gmt } })).status, 403);
    assert.equal((await gw.fetch('/machines/7/jobs', { headers: { authorization: other } })).status, 403);
    assert.equal((await gw.fetch('/opt/run', { headers: { authorization: gmt } })).status, 200);
    assert.equal((await gw.fetch('/opt/run', { headers: { authorization: other } })).status, 403);
  });

  test('a PATCH of the attributes applies to the next requests of a cached credential', async () => {
    assert.equal((await gw.fetch('/machines/8/jobs', { headers: { authorization: gmt } })).status, 403);
    assert.equal((await api('PATCH', '/users/gmt', { attributes: { machines: ['8'] } })).status, 200);
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await gw.fetch('/machines/8/jobs', { headers: { authorization: gmt } })).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(status, 200);
    assert.equal((await gw.fetch('/machines/7/jobs', { headers: { authorization: gmt } })).status, 403);
    await gw.fetch('/app/x', { headers: { authorization: gmt } });
    assert.deepEqual(rawHeaderValues(upstream.last(), 'x-attr-machines'), ['8']);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'x-attr-note'), []);
  });
});

import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

let upstream: Upstream;
let gateway: TestGateway;
const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
let tokenOfWriter = '';
let tokenOfOther = '';

async function api(method: string, path: string, body: unknown, auth = admin): Promise<Response> {
  return gateway.fetch(`/.auth/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json', 'x-requested-with': 'portcullis' }, body: JSON.stringify(body) });
}

before(async () => {
  upstream = await startUpstream();
  gateway = await startGateway({
    config: {
      routes: [
        { name: 'influx', path_prefix: '/influx/', upstream: upstream.url, query_credentials: true },
        { name: 'plain', path_prefix: '/', upstream: upstream.url },
      ],
    },
  });
  for (const name of ['writer', 'other']) {
    assert.equal((await api('POST', '/users', { username: name, password: 'Passw0rd-long!', roles: ['user'] })).status, 201);
  }
  const basic = (name: string) => `Basic ${Buffer.from(`${name}:Passw0rd-long!`).toString('base64')}`;
  tokenOfWriter = ((await (await api('POST', '/tokens', { name: 'telegraf' }, basic('writer'))).json()) as { token: string }).token;
  tokenOfOther = ((await (await api('POST', '/tokens', { name: 'x' }, basic('other'))).json()) as { token: string }).token;
});

after(async () => {
  await gateway?.close();
  await upstream?.close();
});

test('Authorization: Token <api token> is read as Bearer (InfluxDB v2 clients)', async () => {
  const response = await gateway.fetch('/api/v2/write?bucket=x', { method: 'POST', headers: { authorization: `Token ${tokenOfWriter}` }, body: 'm v=1' });
  assert.equal(response.status, 200);
  assert.equal(upstream.last().headers['x-auth-user'], 'writer');
  assert.equal(upstream.last().headers.authorization, undefined);
  assert.equal((await gateway.fetch('/x', { headers: { authorization: 'Token pcl_nope' } })).status, 401);
});

test('u and p are read as Basic on a query_credentials route and removed from the forwarded query and the logs', async () => {
  const response = await gateway.fetch(`/influx/write?db=metrics&u=writer&p=${encodeURIComponent(tokenOfWriter)}&precision=s`, { method: 'POST', body: 'm v=1' });
  assert.equal(response.status, 200);
  const got = upstream.last();
  assert.equal(got.url, '/influx/write?db=metrics&precision=s');
  assert.equal(got.headers['x-auth-user'], 'writer');
  assert.equal(got.headers.authorization, undefined);
  const password = 'Passw0rd-long!';
  const second = await gateway.fetch(`/influx/query?u=writer&p=${encodeURIComponent(password)}&q=SELECT+1`);
  assert.equal(second.status, 200);
  assert.equal(upstream.last().url, '/influx/query?q=SELECT+1');
  // Wrong password: 401, and neither value in any log line or event.
  const wrong = await gateway.fetch('/influx/query?u=writer&p=Wrong-Secret-123&q=1');
  assert.equal(wrong.status, 401);
  const everything = gateway.logs.join('\n') + JSON.stringify(gateway.events);
  for (const secret of [tokenOfWriter, password, 'Wrong-Secret-123']) assert.ok(!everything.includes(secret), 'a query credential reached a log line or event');
});

test('u and p stay untouched on a route without query_credentials', async () => {
  const response = await gateway.fetch('/x?u=writer&p=whatever', { headers: { authorization: admin } });
  assert.equal(response.status, 200);
  assert.equal(upstream.last().url, '/x?u=writer&p=whatever');
  assert.equal(upstream.last().headers['x-auth-user'], 'admin');
});

test("a Basic password that is the user's own pcl_ token is that token; another user's token fails", async () => {
  const own = `Basic ${Buffer.from(`writer:${tokenOfWriter}`).toString('base64')}`;
  const first = await gateway.fetch('/api/v1/prom/write', { method: 'POST', headers: { authorization: own }, body: 'x' });
  assert.equal(first.status, 200);
  assert.equal(upstream.last().headers['x-auth-user'], 'writer');
  // The cached path answers the same.
  assert.equal((await gateway.fetch('/api/v1/prom/write', { method: 'POST', headers: { authorization: own }, body: 'x' })).status, 200);
  const foreign = `Basic ${Buffer.from(`writer:${tokenOfOther}`).toString('base64')}`;
  const before = upstream.received.length;
  assert.equal((await gateway.fetch('/api/v1/prom/write', { method: 'POST', headers: { authorization: foreign }, body: 'x' })).status, 401);
  assert.equal(upstream.received.length, before);
  // Via u/p too.
  assert.equal((await gateway.fetch(`/influx/write?u=writer&p=${tokenOfOther}`, { method: 'POST', body: 'x' })).status, 401);
});

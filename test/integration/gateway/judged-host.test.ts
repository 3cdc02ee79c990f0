/**
 * The host the routes and rules judge is the host the upstream is told about: in
 * X-Forwarded-Host, and in Host with preserve_host. From a trusted proxy that host is its
 * X-Forwarded-Host (as /.auth/verify reads it), for requests and WebSocket handshakes alike;
 * from anyone else it is Host.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawGet } from '../../helpers/raw-request.js';
import { rawHeaderValues, startUpstream, type Upstream } from '../../helpers/upstream.js';

const admin = 'Authorization: Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') + '\r\n';

const access = {
  default_policy: 'deny',
  rules: [
    { name: 'admin-site', hosts: ['admin.example.org'], paths: ['/**'], roles: ['admin'] },
    { name: 'www', hosts: ['www.example.org'], paths: ['/**'], policy: 'public' },
    { name: 'open', paths: ['/status'], policy: 'public' },
  ],
};

/** The status of a WebSocket handshake with these headers (101 when it was upgraded). */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http', 'ws') + '/socket', { headers });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('error', () => resolve(-1));
  });
}

describe('the host judged is the host forwarded', () => {
  let upstream: Upstream;
  let apiUpstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    apiUpstream = await startUpstream();
    gw = await startGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.1/32'] },
        routes: [
          { name: 'api', host: 'api.example.org', path_prefix: '/', upstream: apiUpstream.url },
          { name: 'app', path_prefix: '/', upstream: upstream.url, preserve_host: true },
        ],
        access: { ...access, rules: [{ name: 'api', hosts: ['api.example.org'], paths: ['/**'], policy: 'public' }, ...access.rules] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    await apiUpstream?.close();
  });

  test('preserve_host forwards the host the rules judged, in normal form with the port the client named', async () => {
    for (const [hostHeader, forwarded] of [
      ['www.example.org.', 'www.example.org'],
      ['WWW.Example.ORG', 'www.example.org'],
      ['www.example.org.:8443', 'www.example.org:8443'],
    ] as const) {
      const res = await rawGet(gw.url, '/page', { host: hostHeader });
      assert.equal(res.status, 200, `${hostHeader}: allowed by the public rule of www.example.org`);
      assert.deepEqual(rawHeaderValues(upstream.last(), 'host'), [forwarded], hostHeader);
      assert.deepEqual(rawHeaderValues(upstream.last(), 'x-forwarded-host'), [forwarded], hostHeader);
    }
    assert.equal((await rawGet(gw.url, '/status', { host: '[0:0:0:0:0:0:0:1]:8080' })).status, 200);
    assert.equal(upstream.last().headers.host, '[::1]:8080');
    // Control: a host no rule allows is denied.
    assert.equal((await rawGet(gw.url, '/page', { host: 'other.example.org' })).status, 403);
  });

  test("a trusted proxy's X-Forwarded-Host is the host the rules judge, as /.auth/verify judges it", async () => {
    const before = upstream.received.length;
    // The front proxy set Host to the gateway's own name; the client asked for admin.example.org.
    const refused = await rawGet(gw.url, '/status', { host: 'gateway.internal', extra: 'X-Forwarded-Host: admin.example.org\r\n' });
    assert.equal(refused.status, 401);
    assert.equal(upstream.received.length, before, 'nothing was forwarded');
    const verify = await rawGet(gw.url, '/.auth/verify', { host: 'gateway.internal', extra: 'X-Forwarded-Host: admin.example.org\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /status\r\n' });
    assert.equal(verify.status, refused.status, 'the gateway and forward-auth agree');
    const allowed = await rawGet(gw.url, '/status', { host: 'gateway.internal', extra: `${admin}X-Forwarded-Host: www.example.org, Admin.Example.org.\r\n` });
    assert.equal(allowed.status, 200);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'x-forwarded-host'), ['admin.example.org']);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'host'), ['admin.example.org'], "preserve_host forwards the host judged, not the proxy's Host");
  });

  test("a trusted proxy's X-Forwarded-Host picks the route", async () => {
    const res = await rawGet(gw.url, '/v1/items', { host: 'gateway.internal', extra: 'X-Forwarded-Host: api.example.org\r\n' });
    assert.equal(res.status, 200);
    assert.equal(apiUpstream.last().url, '/v1/items');
    assert.deepEqual(rawHeaderValues(apiUpstream.last(), 'x-forwarded-host'), ['api.example.org']);
  });

  test("a trusted proxy's X-Forwarded-Host that is not a host name is refused, never judged as host-less", async () => {
    for (const forwarded of ['admin..example.org', 'admin.example.org, ', 'admin.example.org:http']) {
      const res = await rawGet(gw.url, '/status', { host: 'gateway.internal', extra: `X-Forwarded-Host: ${forwarded}\r\n` });
      assert.equal(res.status, 400, forwarded);
    }
  });

  test('a WebSocket handshake from a trusted proxy is judged by its X-Forwarded-Host too', async () => {
    assert.equal(await handshake(gw.url, { host: 'gateway.internal', 'x-forwarded-host': 'admin.example.org' }), 401);
    assert.equal(await handshake(gw.url, { host: 'gateway.internal', 'x-forwarded-host': 'www.example.org.' }), 101);
    const seen = upstream.upgrades[upstream.upgrades.length - 1];
    assert.equal(seen?.headers.host, 'www.example.org');
    assert.equal(seen?.headers['x-forwarded-host'], 'www.example.org');
  });
});

describe('the host judged for a peer that is not a trusted proxy', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ config: { routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url, preserve_host: true }], access } });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('is its Host: its X-Forwarded-Host is neither judged nor forwarded', async () => {
    const res = await rawGet(gw.url, '/page', { host: 'www.example.org', extra: 'X-Forwarded-Host: admin.example.org\r\n' });
    assert.equal(res.status, 200);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'x-forwarded-host'), ['www.example.org']);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'host'), ['www.example.org']);
    assert.equal((await rawGet(gw.url, '/page', { host: 'admin.example.org', extra: 'X-Forwarded-Host: www.example.org\r\n' })).status, 401);
    assert.equal(await handshake(gw.url, { host: 'admin.example.org', 'x-forwarded-host': 'www.example.org' }), 401);
  });
});

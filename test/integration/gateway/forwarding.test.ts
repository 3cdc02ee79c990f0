import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, createServer, type Socket } from 'node:net';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawGet } from '../../helpers/raw-request.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

/**
 * An upstream address nothing listens on. Not on 127.0.0.1: a port freed there can be taken by
 * a server of a test file running at the same time (which once answered this test's request with
 * a 404). Every test server listens on 127.0.0.1, so a port freed on another loopback address
 * stays refused.
 */
const DEAD_HOST = '127.255.255.254';
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, DEAD_HOST, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function openSocket(url: string, headers: Record<string, string>, handshakeTimeout = 10_000): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on('error', () => resolve({ status: -1 }));
  });
}

describe('forwarding, upstream failures and WebSockets', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  // Accepts connections and never answers: a hung upstream.
  const held = new Set<Socket>();
  const silent = createServer((socket) => {
    held.add(socket);
    socket.on('close', () => held.delete(socket));
  });
  const basic = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

  before(async () => {
    upstream = await startUpstream();
    const dead = await deadPort();
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentPort = (silent.address() as { port: number }).port;
    gw = await startGateway({
      config: {
        routes: [
          { name: 'app', path_prefix: '/', upstream: upstream.url },
          { name: 'dead', path_prefix: '/dead', upstream: `http://${DEAD_HOST}:${dead}` },
          { name: 'slow', path_prefix: '/slow', upstream: upstream.url, timeout: '300ms' },
          { name: 'echo', path_prefix: '/echo', upstream: 'builtin:echo' },
          { name: 'nows', path_prefix: '/nows', upstream: upstream.url, websocket: false },
          { name: 'hung', path_prefix: '/hung', upstream: `http://127.0.0.1:${silentPort}`, timeout: '300ms' },
          { name: 'fetcher', path_prefix: '/fetch', upstream: upstream.url, strip_prefix: true },
        ],
        access: { default_policy: 'authenticated', rules: [{ name: 'ws-admins', paths: ['/ws/admin/**'], roles: ['admin'] }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
    for (const socket of held) socket.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  });

  test('an unreachable upstream answers 502 upstream_unavailable and the gateway stays up', async () => {
    const res = await gw.fetch('/dead/x', { headers: basic });
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_unavailable');
    assert.equal((await gw.fetch('/x', { headers: basic })).status, 200);
  });

  test('a slow upstream answers 504 upstream_timeout', async () => {
    upstream.delayMs = 1500;
    try {
      const res = await gw.fetch('/slow/x', { headers: basic });
      assert.equal(res.status, 504);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
    } finally {
      upstream.delayMs = 0;
    }
    assert.equal((await gw.fetch('/x', { headers: basic })).status, 200);
  });

  test('the route timeout holds on a pooled connection, and a timed-out connection is not used again', async () => {
    assert.equal((await gw.fetch('/slow/pooled', { headers: basic })).status, 200);
    const pooledPort = upstream.last().remotePort;
    upstream.delayMs = 1500;
    try {
      const started = Date.now();
      const res = await gw.fetch('/slow/late', { headers: basic });
      assert.equal(res.status, 504);
      assert.ok(Date.now() - started < 1400, 'the timeout fired before the upstream answered');
      assert.equal(upstream.last().remotePort, pooledPort, 'the slow request went over the pooled connection');
    } finally {
      upstream.delayMs = 0;
    }
    // A slow answer within the timeout on a pooled connection is passed on.
    upstream.delayMs = 100;
    try {
      assert.equal((await gw.fetch('/slow/again', { headers: basic })).status, 200);
      assert.notEqual(upstream.last().remotePort, pooledPort);
      const fresh = upstream.last().remotePort;
      assert.equal((await gw.fetch('/slow/reused', { headers: basic })).status, 200);
      assert.equal(upstream.last().remotePort, fresh);
    } finally {
      upstream.delayMs = 0;
    }
  });

  test('builtin:echo answers the method, path, query and headers', async () => {
    const res = await gw.fetch('/echo/a?b=1', { method: 'PUT', headers: basic, body: 'x' });
    const body = (await res.json()) as { method: string; path: string; query: string; headers: Record<string, string> };
    assert.equal(body.method, 'PUT');
    assert.equal(body.path, '/echo/a');
    assert.equal(body.query, 'b=1');
    assert.equal(body.headers['x-auth-user'], 'admin');
  });

  test('the upstream receives exactly the path that was matched, even with a segment http: or https:', async () => {
    const auth = `Authorization: ${basic.authorization}\r\n`;
    for (const [target, expected] of [
      ['/files/http:/example.org/x', '/files/http:/example.org/x'],
      ['/files/https:/example.org/x?q=1', '/files/https:/example.org/x?q=1'],
      ['/files/a/http:/b/https:/c?u=http://d', '/files/a/http:/b/https:/c?u=http://d'],
      ['/fetch/http:/evil.example/', '/http:/evil.example/'],
    ] as const) {
      const res = await rawGet(gw.url, target, { extra: auth });
      assert.equal(res.status, 200, target);
      assert.equal(upstream.last().url, expected, target);
    }
  });

  test('a WebSocket handshake reaches the upstream with exactly the path that was matched', async () => {
    const { ws } = await openSocket(gw.url.replace('http', 'ws') + '/ws/http:/example.org/feed?via=https:/x', basic);
    assert.ok(ws, 'upgrade accepted');
    ws.close();
    assert.equal(upstream.upgrades[upstream.upgrades.length - 1]?.url, '/ws/http:/example.org/feed?via=https:/x');
  });

  test('a WebSocket upgrade without credentials is refused before reaching the upstream', async () => {
    const before = upstream.upgrades.length;
    const { status } = await openSocket(gw.url.replace('http', 'ws') + '/ws/x', {});
    assert.equal(status, 401);
    assert.equal(upstream.upgrades.length, before);
  });

  test('an authenticated WebSocket upgrade is proxied with identity headers and spoofed ones stripped', async () => {
    const { ws } = await openSocket(gw.url.replace('http', 'ws') + '/ws/admin/feed', { ...basic, 'x-auth-user': 'root', x_auth_roles: 'admin' });
    assert.ok(ws, 'upgrade accepted');
    const reply = await new Promise<string>((resolve) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.send('ping');
    });
    assert.equal(reply, 'echo:ping');
    ws.close();
    const seen = upstream.upgrades[upstream.upgrades.length - 1];
    assert.equal(seen?.headers['x-auth-user'], 'admin');
    assert.equal(seen?.headers.x_auth_roles, undefined);
    assert.equal(seen?.headers.authorization, undefined);
  });

  test('a WebSocket upgrade by a user without the rule role is refused with 403', async () => {
    await gw.registry.users.create({ username: 'wsuser', password: 'Ws-Passw0rd1', roles: ['user'] }, undefined);
    const auth = { authorization: 'Basic ' + Buffer.from('wsuser:Ws-Passw0rd1').toString('base64') };
    const { status } = await openSocket(gw.url.replace('http', 'ws') + '/ws/admin/feed', auth);
    assert.equal(status, 403);
  });

  test('a WebSocket handshake the upstream never answers is a 504 after the route timeout', async () => {
    const started = Date.now();
    // The client gives up after 3 s (status -1); the gateway must answer long before.
    const { status } = await openSocket(gw.url.replace('http', 'ws') + '/hung/feed', basic, 3000);
    assert.equal(status, 504);
    assert.ok(Date.now() - started < 3000, 'refused at the route timeout, not when the client gave up');
    assert.equal((await gw.fetch('/x', { headers: basic })).status, 200);
  });

  test('an established WebSocket may stay idle longer than the route timeout', async () => {
    const { ws } = await openSocket(gw.url.replace('http', 'ws') + '/slow/feed', basic);
    assert.ok(ws, 'upgrade accepted');
    await new Promise((r) => setTimeout(r, 900));
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('message', (data) => resolve(String(data)));
      ws.once('close', () => reject(new Error('closed while idle')));
      ws.send('still there');
    });
    assert.equal(reply, 'echo:still there');
    ws.close();
  });

  test('a route with websocket: false refuses upgrades', async () => {
    const { status } = await openSocket(gw.url.replace('http', 'ws') + '/nows/x', basic);
    assert.equal(status, 403);
  });

  test('a session-cookie WebSocket handshake from another site is refused; from our own pages it is proxied', async () => {
    const cookie = await gw.login('admin', ADMIN_PASSWORD);
    const before = upstream.upgrades.length;
    for (const foreign of [{ origin: 'https://evil.example' }, { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }] as Record<string, string>[]) {
      const { status } = await openSocket(gw.url.replace('http', 'ws') + '/ws/admin/feed', { cookie, ...foreign });
      assert.equal(status, 403, JSON.stringify(foreign));
    }
    assert.equal(upstream.upgrades.length, before, 'nothing reached the upstream');
    const { ws } = await openSocket(gw.url.replace('http', 'ws') + '/ws/admin/feed', { cookie, origin: gw.url });
    assert.ok(ws, 'same-origin handshake proxied');
    ws?.close();
  });

  test('an Upgrade to anything but WebSocket is answered 400, never left hanging', async () => {
    const { hostname, port } = new URL(gw.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connectTcp(Number(port), hostname, () =>
        socket.write(`GET /x HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAuthorization: ${basic.authorization}\r\n\r\n`),
      );
      let text = '';
      socket.setTimeout(3000, () => socket.destroy());
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
  });
});

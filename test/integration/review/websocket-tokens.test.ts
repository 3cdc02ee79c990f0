/**
 * Review: WebSocket handshakes (cookies the upstream sets, cross-site checks for every browser
 * credential, revocation of Basic-token sockets), scoped tokens sent in other forms, and
 * `support` on admin-only rules through other methods.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { WebSocketServer } from 'ws';
import { apiCall, tokenOf } from '../../helpers/api.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { assertClosesWithin, basicOf, openSocket, relay, startWsUpstream, type WsUpstream } from '../../helpers/websocket.js';

function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (out.includes('\r\n\r\n')) socket.destroy();
    });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.setTimeout(4000, () => socket.destroy());
  });
}

const handshake = (path: string, extra: string): string =>
  `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

describe('review: Set-Cookie on WebSocket handshake answers', () => {
  let server: Server;
  let gw: TestGateway;
  before(async () => {
    server = createServer((_req, res) => res.writeHead(404).end());
    const wss = new WebSocketServer({ noServer: true });
    const planted = [
      'Set-Cookie: =portcullis_session=planted; Path=/',
      'Set-Cookie: PORTCULLIS_SESSION=planted',
      'Set-Cookie: \tportcullis_session=planted',
      'Set-Cookie: portcullis_session',
      'Set-Cookie: theme=dark',
    ];
    wss.on('headers', (headers) => headers.push(...planted));
    server.on('upgrade', (req, socket, head) => {
      if (req.url?.startsWith('/refuse')) {
        socket.end(`HTTP/1.1 403 Forbidden\r\n${planted.join('\r\n')}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (d) => ws.send(String(d))));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    gw = await startGateway({
      config: {
        routes: [{ name: 'ws', path_prefix: '/', upstream: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    server?.closeAllConnections();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  test('a 101 answer passes only the other cookies', async () => {
    const answer = await raw(gw.url, handshake('/ok', ''));
    assert.match(answer, /^HTTP\/1\.1 101 /);
    const cookies = answer.split('\r\n').filter((l) => /^set-cookie:/i.test(l));
    assert.deepEqual(
      cookies.map((l) => l.replace(/^set-cookie:\s*/i, '')),
      ['theme=dark'],
    );
  });

  test('a refused handshake passes only the other cookies', async () => {
    const answer = await raw(gw.url, handshake('/refuse', ''));
    assert.match(answer, /^HTTP\/1\.1 403 /);
    const cookies = answer.split('\r\n').filter((l) => /^set-cookie:/i.test(l));
    assert.deepEqual(
      cookies.map((l) => l.replace(/^set-cookie:\s*/i, '')),
      ['theme=dark'],
    );
  });
});

describe('review: WebSockets, scoped tokens and support', () => {
  let upstream: WsUpstream;
  let gw: TestGateway;
  let admin: string;
  let wsUrl: string;
  before(async () => {
    upstream = await startWsUpstream();
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url, websocket: true }],
        access: {
          default_policy: 'authenticated',
          rules: [
            { name: 'admin-only', paths: ['/admin/**'], roles: ['admin'] },
            { name: 'admin-get', paths: ['/reports/**'], methods: ['GET'], roles: ['admin'] },
          ],
        },
      },
    });
    wsUrl = gw.url.replace('http:', 'ws:');
    admin = await tokenOf(gw, 'admin', ADMIN_PASSWORD);
    for (const [username, roles] of [
      ['alice', ['user']],
      ['sam', ['support']],
    ] as const) {
      assert.equal((await apiCall(gw, admin, 'POST', '/users', { username, password: 'Passw0rd-One', roles })).status, 201);
    }
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('a Basic handshake whose password is an API token is refused cross-site (Origin null, same-site, other site)', async () => {
    const token = await tokenOf(gw, 'alice', 'Passw0rd-One');
    const sites: Array<Record<string, string>> = [
      { origin: 'null' },
      { origin: 'http://evil.example' },
      { 'sec-fetch-site': 'same-site', origin: 'http://sub.localhost' },
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const headers of sites) {
      await assert.rejects(openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', token), ...headers }), /403/, JSON.stringify(headers));
      await assert.rejects(openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', 'Passw0rd-One'), ...headers }), /403/, JSON.stringify(headers));
    }
    const cookie = await gw.login('alice', 'Passw0rd-One');
    await assert.rejects(openSocket(`${wsUrl}/x`, { cookie, origin: 'null' }), /403/);
    await assert.rejects(openSocket(`${wsUrl}/x`, { cookie, 'sec-fetch-site': 'same-site' }), /403/);
  });

  test('a socket opened with Basic user:pcl_token closes when that token is revoked', async () => {
    const created = await apiCall(gw, admin, 'POST', '/tokens?user=alice', { name: 'ws' });
    assert.equal(created.status, 201);
    const ws = await openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', created.json.token) });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    assert.equal((await apiCall(gw, admin, 'DELETE', `/tokens/${created.json.id}`)).status, 204);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await gw.fetch('/x', { headers: { authorization: basicOf('alice', created.json.token) } })).status, 401, 'the credential itself has ended');
    await assertClosesWithin(ws, 'the token was revoked');
  });

  test('a socket opened with Basic user:pcl_token closes when that token expires', async () => {
    const created = await apiCall(gw, admin, 'POST', '/tokens?user=alice', { name: 'short', expires_in: '2s' });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const ws = await openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', created.json.token) });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    await new Promise((r) => setTimeout(r, 2000));
    await assertClosesWithin(ws, 'the token expired');
  });

  test("a Basic socket closes when the user's roles change, and when the password changes", async () => {
    const one = await openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', 'Passw0rd-One') });
    assert.equal((await apiCall(gw, admin, 'PATCH', '/users/alice', { roles: ['user', 'manager'] })).status, 200);
    await assertClosesWithin(one, 'a role change');
    const two = await openSocket(`${wsUrl}/x`, { authorization: basicOf('alice', 'Passw0rd-One') });
    assert.equal((await apiCall(gw, admin, 'PATCH', '/users/alice', { password: 'Passw0rd-Two', must_change_password: false })).status, 200);
    await assertClosesWithin(two, 'a password change');
    assert.equal((await apiCall(gw, admin, 'PATCH', '/users/alice', { password: 'Passw0rd-One', must_change_password: false })).status, 200);
  });

  test('a scoped token keeps its scope as a Basic password, on WebSockets and in POST /.auth/token', async () => {
    const alice = await tokenOf(gw, 'alice', 'Passw0rd-One');
    const scoped = await apiCall(gw, alice, 'POST', '/tokens', { name: 'scoped', scope: { paths: ['/data/**'], methods: ['GET'] } });
    assert.equal(scoped.status, 201, JSON.stringify(scoped.json));
    const basic = basicOf('alice', scoped.json.token);
    assert.equal((await gw.fetch('/other/x', { headers: { authorization: basic } })).status, 403, 'Basic-token outside its scope');
    assert.equal((await gw.fetch('/other/x', { headers: { authorization: `Token ${scoped.json.token}` } })).status, 403, 'InfluxDB Token scheme outside its scope');
    await assert.rejects(openSocket(`${wsUrl}/other/x`, { 'x-authentication': scoped.json.token }), /403/);
    await assert.rejects(openSocket(`${wsUrl}/other/x`, { authorization: basic }), /403/);
    const minted = await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: basic } });
    assert.notEqual(minted.status, 201, 'POST /.auth/token turned a scoped token into an unscoped one');
    const viaApi = await gw.fetch('/.auth/api/tokens', { method: 'POST', headers: { authorization: basic, 'content-type': 'application/json' }, body: '{"name":"x"}' });
    assert.equal(viaApi.status, 403, 'the API refuses the scoped Basic-token outside its scope');
  });

  test('a read_only admin token cannot PATCH, revoke, create tokens for others or delete tokens', async () => {
    const ro = await apiCall(gw, admin, 'POST', '/tokens', { name: 'ro', read_only: true });
    assert.equal(ro.status, 201);
    const t = ro.json.token as string;
    assert.equal((await apiCall(gw, t, 'PATCH', '/users/alice', { roles: ['admin'] })).status, 403);
    assert.equal((await apiCall(gw, t, 'POST', '/users/alice/revoke')).status, 403);
    assert.equal((await apiCall(gw, t, 'POST', '/tokens?user=alice', { name: 'x' })).status, 403);
    assert.equal((await apiCall(gw, t, 'DELETE', `/tokens/${ro.json.id}`)).status, 403);
    assert.equal((await apiCall(gw, t, 'POST', '/tokens', { name: 'x' }, 'bearer')).status, 403);
    const basic = await gw.fetch('/.auth/api/users/alice', { method: 'PATCH', headers: { authorization: basicOf('admin', t), 'content-type': 'application/json' }, body: '{"roles":["admin"]}' });
    assert.equal(basic.status, 403);
    assert.equal((await gw.fetch('/x', { method: 'OPTIONS', headers: { 'x-authentication': t } })).status, 403, 'OPTIONS with a read_only token');
    const user = await apiCall(gw, admin, 'GET', '/users/alice');
    assert.deepEqual([...(user.json.roles ?? user.json.user?.roles)].sort(), ['manager', 'user'], 'the read_only token changed nothing');
  });

  test('support reaches no admin-only rule through HEAD, OPTIONS, WebSocket or /.auth/verify, nor the admin API', async () => {
    const sam = basicOf('sam', 'Passw0rd-One');
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'POST']) assert.equal((await gw.fetch('/admin/x', { method, headers: { authorization: sam } })).status, 403, method);
    assert.equal((await gw.fetch('/reports/x', { method: 'HEAD', headers: { authorization: sam } })).status, 403, 'HEAD on a GET-only admin rule');
    await assert.rejects(openSocket(`${wsUrl}/admin/x`, { authorization: sam }), /403/);
    await assert.rejects(openSocket(`${wsUrl}/reports/x`, { authorization: sam }), /403/);
    for (const path of ['/users', '/events', '/tokens?user=alice']) assert.equal((await gw.fetch(`/.auth/api${path}`, { headers: { authorization: sam } })).status, 403, path);
    assert.equal((await gw.fetch('/.auth/api/tokens?user=alice', { method: 'POST', headers: { authorization: sam, 'content-type': 'application/json' }, body: '{}' })).status, 403);
  });
});

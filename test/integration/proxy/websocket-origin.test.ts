/**
 * SPEC 7: cross-site WebSocket upgrades are refused for every credential a browser attaches by
 * itself (the session cookie, remembered Basic); a token in a header may come from anywhere.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

/** The handshake's status: 101 when the socket opened (then closed again), else the refusal's. */
function handshake(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers, handshakeTimeout: 5000 });
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

describe('cross-site WebSocket upgrades', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let wsUrl: string;
  const basic = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  const crossSite: Array<Record<string, string>> = [{ origin: 'http://evil.example' }, { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'cross-site' }];

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({ config: { routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }] } });
    wsUrl = gw.url.replace('http', 'ws') + '/feed';
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('a Basic-authenticated handshake from another site is refused before reaching the upstream', async () => {
    const before = upstream.upgrades.length;
    for (const foreign of crossSite) assert.equal(await handshake(wsUrl, { authorization: basic, ...foreign }), 403, JSON.stringify(foreign));
    assert.equal(upstream.upgrades.length, before, 'nothing reached the upstream');
  });

  test('a session-cookie handshake from another site is refused', async () => {
    const cookie = await gw.login('admin', ADMIN_PASSWORD);
    for (const foreign of crossSite) assert.equal(await handshake(wsUrl, { cookie, ...foreign }), 403, JSON.stringify(foreign));
  });

  test('Basic and session handshakes from our own pages, or from clients that send no Origin, are proxied', async () => {
    const cookie = await gw.login('admin', ADMIN_PASSWORD);
    for (const credential of [{ authorization: basic }, { cookie }] as Array<Record<string, string>>) {
      assert.equal(await handshake(wsUrl, { ...credential, origin: gw.url }), 101, Object.keys(credential)[0]);
      assert.equal(await handshake(wsUrl, { ...credential, 'sec-fetch-site': 'same-origin' }), 101, Object.keys(credential)[0]);
      assert.equal(await handshake(wsUrl, credential), 101, Object.keys(credential)[0]);
    }
  });

  test('a handshake with a token in a header is proxied from any site', async () => {
    const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    assert.equal(res.status, 201);
    const { token } = (await res.json()) as { token: string };
    for (const credential of [{ 'x-authentication': token }, { authorization: `Bearer ${token}` }] as Array<Record<string, string>>) {
      assert.equal(await handshake(wsUrl, { ...credential, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' }), 101, Object.keys(credential)[0]);
    }
  });
});

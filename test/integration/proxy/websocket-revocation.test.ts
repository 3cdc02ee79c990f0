/**
 * SPEC 7: a WebSocket opened with a session, token or Basic credential is closed within the
 * second that credential ends (logout, revoke, expiry, password or role change, disable,
 * delete), and a socket of someone else stays open. Real sockets end to end: a ws client, the
 * gateway, and a ws server upstream on 127.0.0.1:0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type WebSocket from 'ws';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { assertClosesWithin, basicOf, CLOSE_WITHIN_MS, openSocket, relay, startWsUpstream, within, type WsUpstream } from '../../helpers/websocket.js';

describe('open WebSockets end with their credential', () => {
  let upstream: WsUpstream;
  let gw: TestGateway;
  let wsUrl: string;
  let now = Date.now();
  let clocked: TestGateway;
  const admin = { authorization: basicOf('admin', ADMIN_PASSWORD), 'content-type': 'application/json' };
  const password = 'Socket-Passw0rd1';
  let counter = 0;

  /** A fresh user with an open, relaying session socket. */
  async function sessionSocket(on: TestGateway = gw): Promise<{ username: string; cookie: string; ws: WebSocket }> {
    const username = `sock${++counter}`;
    await on.registry.users.create({ username, password, roles: ['user'] }, undefined);
    const cookie = await on.login(username, password);
    const ws = await openSocket(on.url.replace('http', 'ws') + '/feed', { cookie });
    assert.equal(await relay(ws, 'hello'), 'echo:hello');
    return { username, cookie, ws };
  }

  const api = (path: string, method: string, body?: unknown): Promise<Response> =>
    gw.fetch(`/.auth/api${path}`, { method, headers: admin, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });

  before(async () => {
    upstream = await startWsUpstream();
    const routes = [{ name: 'app', path_prefix: '/', upstream: upstream.url }];
    gw = await startGateway({ config: { routes } });
    wsUrl = gw.url.replace('http', 'ws') + '/feed';
    clocked = await startGateway({ now: () => now, config: { routes, session: { idle_timeout: '30s', max_lifetime: '1h' } } });
  });
  after(async () => {
    await gw?.close();
    await clocked?.close();
    await upstream?.close();
  });

  test('logout closes the socket of that session', async () => {
    const { cookie, ws } = await sessionSocket();
    assert.equal((await gw.fetch('/.auth/logout', { method: 'POST', headers: { cookie } })).status, 204);
    await assertClosesWithin(ws, 'logout');
  });

  test('an admin revoke closes the socket, and another user’s socket keeps relaying', async () => {
    const victim = await sessionSocket();
    const bystander = await sessionSocket();
    assert.equal((await api(`/users/${victim.username}/revoke`, 'POST')).status, 204);
    await assertClosesWithin(victim.ws, 'revoke');
    assert.equal(await relay(bystander.ws, 'still here'), 'echo:still here');
    bystander.ws.close();
  });

  for (const [what, patch] of [
    ['disable', { disabled: true }],
    ['role change', { roles: ['user', 'manager'] }],
    ['password change', { password: 'Another-Passw0rd2' }],
  ] as const) {
    test(`a ${what} closes the user's session socket`, async () => {
      const { username, ws } = await sessionSocket();
      assert.equal((await api(`/users/${username}`, 'PATCH', patch)).status, 200);
      await assertClosesWithin(ws, what);
    });
  }

  test('deleting the user closes the socket', async () => {
    const { username, ws } = await sessionSocket();
    assert.equal((await api(`/users/${username}`, 'DELETE')).status, 204);
    await assertClosesWithin(ws, 'delete');
  });

  test('a socket opened with an opaque API token closes when that token is revoked, not when another is', async () => {
    const username = `tok${++counter}`;
    await gw.registry.users.create({ username, password, roles: ['user'] }, undefined);
    const mint = async (): Promise<{ token: string; id: string }> => {
      const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
      assert.equal(res.status, 201);
      return (await res.json()) as { token: string; id: string };
    };
    const used = await mint();
    const other = await mint();
    const ws = await openSocket(wsUrl, { 'x-authentication': used.token });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    assert.equal((await gw.fetch(`/.auth/api/tokens/${other.id}`, { method: 'DELETE', headers: { 'x-authentication': used.token } })).status, 204);
    assert.equal(await relay(ws, 'after the other token'), 'echo:after the other token');
    assert.equal((await gw.fetch(`/.auth/api/tokens/${used.id}`, { method: 'DELETE', headers: admin })).status, 204);
    await assertClosesWithin(ws, 'token revoke');
  });

  test('a Basic-authenticated socket closes when the user is disabled', async () => {
    const username = `basic${++counter}`;
    await gw.registry.users.create({ username, password, roles: ['user'] }, undefined);
    const ws = await openSocket(wsUrl, { authorization: basicOf(username, password) });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    assert.equal((await api(`/users/${username}`, 'PATCH', { disabled: true })).status, 200);
    await assertClosesWithin(ws, 'disable');
  });

  test('a session that times out closes its socket; a re-check does not keep it alive', async () => {
    const { ws } = await sessionSocket(clocked);
    now += 20_000;
    // Re-checks of every socket (as after a missed notification) must not move last-seen on.
    clocked.registry.openSockets.changed({ kind: 'user', key: '*' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await relay(ws, 'at 20 s'), 'echo:at 20 s');
    now += 11_000;
    await assertClosesWithin(ws, 'the idle timeout');
  });

  test('a record is kept only while its socket is open, whichever side closes it', async () => {
    await within(CLOSE_WITHIN_MS, () => gw.registry.openSockets.size === 0);
    assert.equal(gw.registry.openSockets.size, 0, 'records of the closed sockets above are gone');
    const username = `rec${++counter}`;
    await gw.registry.users.create({ username, password, roles: ['user'] }, undefined);
    const auth = { authorization: basicOf(username, password) };
    const sockets = await Promise.all([openSocket(wsUrl, auth), openSocket(wsUrl, auth), openSocket(wsUrl, auth)]);
    assert.equal(gw.registry.openSockets.size, 3);
    const [byClient, byUpstream, terminated] = sockets as [WebSocket, WebSocket, WebSocket];
    byClient.close();
    byUpstream.send('bye');
    terminated.terminate();
    const took = await within(CLOSE_WITHIN_MS, () => gw.registry.openSockets.size === 0 && upstream.open() === 0);
    assert.ok(took <= CLOSE_WITHIN_MS, `${gw.registry.openSockets.size} records and ${upstream.open()} upstream sockets left`);
  });
});

/**
 * SPEC 7 and 13 across replicas: a WebSocket open through one gateway closes within the second
 * its credential is ended through another gateway on the same PostgreSQL database (the change
 * reaches it through LISTEN/NOTIFY).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { basicOf, openSocket, relay, startWsUpstream, within, type WsUpstream } from '../../helpers/websocket.js';

/** SPEC's second, plus slack for a loaded test machine. */
const ACROSS_REPLICAS_MS = 2000;

describe('WebSockets on two replicas of one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let upstream: WsUpstream;
  let a: TestGateway;
  let b: TestGateway;
  const admin = { authorization: basicOf('admin', ADMIN_PASSWORD), 'content-type': 'application/json' };

  before(async () => {
    db = await createTestDatabase();
    upstream = await startWsUpstream();
    const config = { routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }] };
    a = await startGateway({ storeUrl: db.url, config });
    b = await startGateway({ storeUrl: db.url, config });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await db?.drop();
  });

  test('a session socket on replica A closes within the second the user is revoked through replica B; another stays', async () => {
    for (const username of ['wanda', 'walt']) await a.registry.users.create({ username, password: 'Wanda-Passw0rd1', roles: ['user'] }, undefined);
    const victim = await openSocket(a.url.replace('http', 'ws') + '/feed', { cookie: await a.login('wanda', 'Wanda-Passw0rd1') });
    const bystander = await openSocket(a.url.replace('http', 'ws') + '/feed', { cookie: await a.login('walt', 'Wanda-Passw0rd1') });
    assert.equal(await relay(victim, 'hello'), 'echo:hello');
    assert.equal((await b.fetch('/.auth/api/users/wanda/revoke', { method: 'POST', headers: admin })).status, 204);
    const took = await within(ACROSS_REPLICAS_MS, () => victim.readyState === victim.CLOSED);
    assert.ok(took <= ACROSS_REPLICAS_MS, `the socket on replica A still relayed ${ACROSS_REPLICAS_MS} ms after the revoke on B`);
    assert.equal(await relay(bystander, 'still here'), 'echo:still here');
    bystander.close();
  });

  test('a token socket on replica A closes within the second the token is revoked through replica B', async () => {
    await a.registry.users.create({ username: 'tess', password: 'Tess-Passw0rd1', roles: ['user'] }, undefined);
    const minted = await a.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tess', password: 'Tess-Passw0rd1' }) });
    const { token, id } = (await minted.json()) as { token: string; id: string };
    const ws = await openSocket(a.url.replace('http', 'ws') + '/feed', { authorization: `Bearer ${token}` });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    assert.equal((await b.fetch(`/.auth/api/tokens/${id}`, { method: 'DELETE', headers: admin })).status, 204);
    const took = await within(ACROSS_REPLICAS_MS, () => ws.readyState === ws.CLOSED);
    assert.ok(took <= ACROSS_REPLICAS_MS, `the socket on replica A still relayed ${ACROSS_REPLICAS_MS} ms after the token revoke on B`);
  });
});

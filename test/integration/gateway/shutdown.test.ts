import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway } from '../../helpers/gateway.js';
import { startUpstream } from '../../helpers/upstream.js';
import { basicOf, openSocket, relay, startWsUpstream, within } from '../../helpers/websocket.js';

test('closing the gateway stops accepting but lets an in-flight request finish', async () => {
  const upstream = await startUpstream();
  const gw = await startGateway({ config: { routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }] } });
  try {
    upstream.delayMs = 600;
    const inFlight = gw.fetch('/slow', { headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') } });
    await new Promise((r) => setTimeout(r, 200));
    const closing = gw.close();
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { url: string }).url, '/slow');
    await closing;
    await assert.rejects(() => fetch(`${gw.url}/.auth/healthz`), 'no longer accepting');
  } finally {
    upstream.delayMs = 0;
    await upstream.close();
  }
});

test('an open WebSocket does not keep shutdown waiting past shutdown_timeout; both its sides are closed', async () => {
  const upstream = await startWsUpstream();
  const gw = await startGateway({ config: { routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }], server: { shutdown_timeout: '500ms' } } });
  try {
    const ws = await openSocket(gw.url.replace('http', 'ws') + '/feed', { authorization: basicOf('admin', ADMIN_PASSWORD) });
    assert.equal(await relay(ws, 'hi'), 'echo:hi');
    const started = Date.now();
    const closed = await Promise.race([gw.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 5000))]);
    assert.ok(closed, 'close() still waiting 5 s after a shutdown_timeout of 500 ms');
    assert.ok(Date.now() - started >= 400, 'the socket had shutdown_timeout to finish');
    assert.ok((await within(2000, () => ws.readyState === ws.CLOSED && upstream.open() === 0)) <= 2000, 'both sides closed');
  } finally {
    await upstream.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway } from '../../helpers/gateway.js';
import { startUpstream } from '../../helpers/upstream.js';

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

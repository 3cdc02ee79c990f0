import { test } from 'node:test';
import assert from 'node:assert/strict';
import httpProxy from 'http-proxy';
import { withoutDeleteLength } from '../../../src/proxy/forwarder.js';

type Passes = { webPasses: Array<{ name: string }> };

test("http-proxy's deleteLength pass is removed and the others stay in order", () => {
  const proxy = httpProxy.createProxyServer({});
  const before = (proxy as unknown as Passes).webPasses.map((pass) => pass.name);
  assert.ok(before.includes('deleteLength'), 'this http-proxy still has the pass the gateway removes');
  withoutDeleteLength(proxy);
  assert.deepEqual(
    (proxy as unknown as Passes).webPasses.map((pass) => pass.name),
    before.filter((name) => name !== 'deleteLength'),
  );
});

test('an http-proxy without that pass where it was is refused, not used', () => {
  const proxy = httpProxy.createProxyServer({});
  withoutDeleteLength(proxy);
  assert.throws(() => withoutDeleteLength(proxy), /no deleteLength web pass/);
});

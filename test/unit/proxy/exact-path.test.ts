import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { withExactUpstreamPaths } from '../../../src/proxy/exact-path.js';

type Common = { setupOutgoing(outgoing: object, options: object, req: object): { path: string } };
const common = createRequire(import.meta.url)('http-proxy/lib/http-proxy/common.js') as Common;

const outgoingPath = (url: string): string =>
  common.setupOutgoing({}, { target: { protocol: 'http:', host: 'upstream', port: 80 }, prependPath: false, toProxy: true, agent: {} }, { url, method: 'GET', headers: {} }).path;

test("http-proxy passes the gateway's path on unchanged, segments http: and https: included", () => {
  withExactUpstreamPaths();
  withExactUpstreamPaths();
  for (const url of ['/files/http:/example.org/x', '/a/https:/b?u=http:/c', '/a/http:/b/https:/c', '/', '/plain?q=1']) assert.equal(outgoingPath(url), url);
});

test('a proxy target with a path of its own is still joined by http-proxy', () => {
  withExactUpstreamPaths();
  const joined = common.setupOutgoing(
    {},
    { target: { protocol: 'http:', host: 'upstream', port: 80, path: '/base' }, prependPath: true, toProxy: true, agent: {} },
    { url: '/x?q=1', method: 'GET', headers: {} },
  ).path;
  assert.equal(joined, '/base/x?q=1');
});

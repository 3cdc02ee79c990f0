import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import util from 'node:util';
import { portcullisExtend } from '../../../src/proxy/http-proxy-compat.js';

test('util._extend is the plain replacement, with the contract http-proxy relies on', () => {
  assert.equal((util as unknown as { _extend: unknown })._extend, portcullisExtend);
  const target = { a: 1, b: 2 };
  assert.equal(portcullisExtend(target, { b: 3, c: 4 }), target);
  assert.deepEqual(target, { a: 1, b: 3, c: 4 });
  assert.deepEqual(portcullisExtend({ a: 1 }, null), { a: 1 });
  assert.deepEqual(portcullisExtend({ a: 1 }, 'text'), { a: 1 });
  assert.deepEqual(portcullisExtend({}, Object.create({ inherited: 1 }) as object), {}, 'own keys only');
});

test('forwarding a request through http-proxy emits no deprecation warning (DEP0060 on Node 22+)', () => {
  // A child process with --throw-deprecation: any deprecated call ends it with an error.
  const script = `
    import { createServer, request } from 'node:http';
    const { Forwarder } = await import(${JSON.stringify(new URL('../../../src/proxy/forwarder.ts', import.meta.url).href)});
    const { setUpstreamHeaders } = await import(${JSON.stringify(new URL('../../../src/proxy/upstream-headers.ts', import.meta.url).href)});
    const upstream = createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1');
    await new Promise((r) => upstream.once('listening', r));
    const url = 'http://127.0.0.1:' + upstream.address().port;
    const forwarder = new Forwarder({ logger: { debug() {}, info() {}, warn() {}, error() {} }, hooks: { onError: (k, q, res) => res.writeHead(502).end() } });
    const route = { name: 'app', host: '', prefix: '', upstreamHost: new URL(url).host, config: { name: 'app', host: '', path_prefix: '/', upstream: url, strip_prefix: false, preserve_host: false, websocket: true, timeout: 2000, pass_credentials: false, max_sockets: 8, case_insensitive_paths: false, identity_headers: true, query_credentials: false } };
    const front = createServer((req, res) => { setUpstreamHeaders(req, ['host', route.upstreamHost]); forwarder.web(route, req, res, 'c'); }).listen(0, '127.0.0.1');
    await new Promise((r) => front.once('listening', r));
    const status = await new Promise((resolve, reject) => request({ host: '127.0.0.1', port: front.address().port, path: '/' }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); }).on('error', reject).end());
    forwarder.close(); front.close(); upstream.close();
    process.stdout.write(String(status));
  `;
  const result = spawnSync(process.execPath, ['--throw-deprecation', '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout.trim(), '200');
  assert.doesNotMatch(result.stderr, /DEP0060|DeprecationWarning/);
});

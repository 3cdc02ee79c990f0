/**
 * The forwarder sends a request's upstream headers as the list the gateway built, never the
 * client's own headers: checked against a real upstream, with a forwarder of its own (the
 * gateway's tests check what the list holds).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import type { RouteConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/observability/logger.js';
import { Forwarder } from '../../../src/proxy/forwarder.js';
import type { CompiledRoute } from '../../../src/proxy/routes.js';
import { setUpstreamHeaders, upstreamHeadersOf, withUpstreamHeaderLists } from '../../../src/proxy/upstream-headers.js';
import { makeCertificates } from '../../helpers/slapd.js';
import { rawHeaderValues, startUpstream, type Received, type Upstream } from '../../helpers/upstream.js';

function send(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('upstream header lists', () => {
  let upstream: Upstream;
  let forwarder: Forwarder;
  let front: Server;
  let port: number;
  /** What the front marks each request with: set per test (undefined: not marked). */
  let mark: ((headers: Record<string, string | string[] | undefined>) => Array<string | string[]>) | undefined;
  const crashes: string[] = [];

  before(async () => {
    upstream = await startUpstream();
    forwarder = new Forwarder({
      logger: createLogger({ level: 'error', write: () => undefined }),
      hooks: { onError: (_kind, _req, res) => void ('writeHead' in res ? res.writeHead(502).end() : res.destroy()) },
    });
    const config = {
      name: 'app',
      host: '',
      path_prefix: '/',
      upstream: upstream.url,
      strip_prefix: false,
      preserve_host: false,
      websocket: true,
      timeout: 2000,
      pass_credentials: false,
      max_sockets: 1024,
      case_insensitive_paths: false,
      identity_headers: true,
      query_credentials: false,
    } satisfies RouteConfig;
    const route: CompiledRoute = { config, name: 'app', host: '', prefix: '', upstreamHost: new URL(upstream.url).host };
    front = createServer((req, res) => {
      if (mark !== undefined) setUpstreamHeaders(req, mark(req.headers));
      try {
        forwarder.web(route, req, res, '127.0.0.1');
      } catch (err) {
        crashes.push((err as Error).message);
        res.writeHead(500).end();
      }
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    port = (front.address() as AddressInfo).port;
  });
  after(async () => {
    forwarder?.close();
    front?.closeAllConnections();
    await new Promise<void>((resolve) => front?.close(() => resolve()));
    await upstream?.close();
  });

  test('the upstream receives exactly the list, in its order, and none of the client headers', async () => {
    mark = (headers) => ['host', 'backend.internal', 'accept', headers.accept ?? '', 'x-auth-user', 'alice', 'x-auth-roles', 'user,manager'];
    const count = upstream.received.length;
    assert.equal(await send(port, 'GET', '/x?q=1', { accept: 'text/plain', 'x-auth-user': 'mallory', 'x-forwarded-for': '10.0.0.1', cookie: 'portcullis_session=s' }), 200);
    assert.equal(upstream.received.length, count + 1);
    const seen = upstream.last();
    assert.equal(seen.url, '/x?q=1');
    // Node adds its own Connection for the pooled connection, nothing else.
    assert.deepEqual(seen.rawHeaders, ['host', 'backend.internal', 'accept', 'text/plain', 'x-auth-user', 'alice', 'x-auth-roles', 'user,manager', 'Connection', 'keep-alive']);
  });

  test("the client's req.headers are emptied once a request is marked", () => {
    const req = { headers: { 'x-auth-user': 'mallory' } } as unknown as Parameters<typeof setUpstreamHeaders>[0];
    setUpstreamHeaders(req, ['x-auth-user', 'alice']);
    assert.deepEqual(req.headers, {});
    assert.deepEqual(upstreamHeadersOf(req), ['x-auth-user', 'alice']);
  });

  test('a body keeps its framing, and a DELETE without one gets Content-Length: 0', async () => {
    mark = (headers) => ['host', 'backend.internal', ...(headers['content-length'] !== undefined ? ['content-length', headers['content-length']] : [])];
    assert.equal(await send(port, 'POST', '/post', { 'content-length': '5' }, 'hello'), 200);
    assert.equal(upstream.last().body, 'hello');
    assert.deepEqual(rawHeaderValues(upstream.last(), 'content-length'), ['5']);
    assert.equal(await send(port, 'DELETE', '/thing', {}), 200);
    assert.equal(upstream.last().method, 'DELETE');
    assert.deepEqual(rawHeaderValues(upstream.last(), 'content-length'), ['0']);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'transfer-encoding'), []);
  });

  test('a request whose upstream head has no framing sends no body: client bytes never reach the upstream unframed', async () => {
    // The list leaves the client's Content-Length out: its five bytes must not follow the head.
    mark = () => ['host', 'backend.internal'];
    const count = upstream.received.length;
    assert.equal(await send(port, 'GET', '/with-body', { 'content-length': '5' }, 'hello'), 200);
    assert.equal(await send(port, 'GET', '/after', {}), 200);
    assert.equal(upstream.received.length, count + 2);
    const [first, second] = upstream.received.slice(count);
    assert.equal(first?.url, '/with-body');
    assert.equal(first?.body, '');
    assert.deepEqual(rawHeaderValues(first as Received, 'content-length'), []);
    // The pooled upstream connection is still in step: the next request is read as itself.
    assert.equal(second?.url, '/after');
    assert.equal(second?.remotePort, first?.remotePort);
  });

  test('a chunked body is piped with its framing, and bodiless requests on one client connection each reach the upstream', async () => {
    mark = (headers) => ['host', 'backend.internal', ...(headers['transfer-encoding'] !== undefined ? ['transfer-encoding', headers['transfer-encoding']] : [])];
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/chunked', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('one,');
      setTimeout(() => req.end('two'), 20);
    });
    assert.equal(chunked, 200);
    assert.equal(upstream.last().body, 'one,two');
    assert.deepEqual(rawHeaderValues(upstream.last(), 'transfer-encoding'), ['chunked']);
    // Unread bodiless requests are drained by Node when answered: the client connection carries on.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    try {
      for (let i = 0; i < 20; i++) {
        const status = await new Promise<number>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port, method: 'GET', path: `/k${i}`, agent }, (res) => {
            ports.add(req.socket?.localPort ?? 0);
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        });
        assert.equal(status, 200);
        assert.equal(upstream.last().url, `/k${i}`);
      }
    } finally {
      agent.destroy();
    }
    assert.equal(ports.size, 1, 'one client connection for all twenty');
  });

  test('a value Node refuses (a line break) fails the request instead of reaching the upstream', async () => {
    mark = () => ['host', 'backend.internal', 'x-auth-name', 'Eve\r\nX-Auth-Roles: admin'];
    const count = upstream.received.length;
    const status = await send(port, 'GET', '/x', {});
    assert.ok(status >= 500, `answered ${status}`);
    assert.equal(upstream.received.length, count, 'nothing reached the upstream');
  });

  test("fails closed: a request that was not marked is refused, not forwarded with the client's headers", async () => {
    mark = undefined;
    const count = upstream.received.length;
    assert.equal(await send(port, 'GET', '/x', { 'x-auth-user': 'mallory' }), 500);
    assert.equal(upstream.received.length, count);
    assert.match(crashes.at(-1) ?? '', /without its upstream headers/);
  });

  test('an HTTPS upstream is asked for, and checked against, its configured name, never the Host a client sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-upstream-'));
    const names: string[] = [];
    const { cert, key } = makeCertificates(dir);
    const context = createSecureContext({ cert: readFileSync(cert), key: readFileSync(key) });
    const tlsUpstream = createHttpsServer({ cert: readFileSync(cert), key: readFileSync(key), SNICallback: (name, done) => (names.push(name), done(null, context)) }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => tlsUpstream.listen(0, '127.0.0.1', resolve));
    const tlsPort = (tlsUpstream.address() as AddressInfo).port;
    const failures: string[] = [];
    const tlsForwarder = new Forwarder({
      logger: createLogger({ level: 'error', write: () => undefined }),
      hooks: { onError: (kind, _req, res) => (failures.push(kind), void ('writeHead' in res ? res.writeHead(502).end() : res.destroy())) },
    });
    const config = {
      name: 'tls',
      host: '',
      path_prefix: '/',
      upstream: `https://localhost:${tlsPort}`,
      strip_prefix: false,
      preserve_host: true,
      websocket: false,
      timeout: 2000,
      pass_credentials: false,
      max_sockets: 1024,
      case_insensitive_paths: false,
      identity_headers: true,
      query_credentials: false,
    } satisfies RouteConfig;
    const route: CompiledRoute = { config, name: 'tls', host: '', prefix: '', upstreamHost: `localhost:${tlsPort}` };
    const tlsFront = createServer((req, res) => {
      setUpstreamHeaders(req, ['host', 'evil.example']);
      tlsForwarder.web(route, req, res, '127.0.0.1');
    });
    await new Promise<void>((resolve) => tlsFront.listen(0, '127.0.0.1', resolve));
    try {
      // The test CA is not trusted: the handshake fails after the upstream saw the name asked for.
      assert.equal(await send((tlsFront.address() as AddressInfo).port, 'GET', '/', { host: 'evil.example' }), 502);
      assert.deepEqual(failures, ['unavailable']);
      assert.deepEqual(names, ['localhost']);
    } finally {
      tlsForwarder.close();
      tlsFront.closeAllConnections();
      tlsUpstream.closeAllConnections();
      await new Promise<void>((resolve) => tlsFront.close(() => resolve()));
      await new Promise<void>((resolve) => tlsUpstream.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("http-proxy builds a marked request's outgoing options with the list, and an unmarked one with its headers", () => {
    withUpstreamHeaderLists();
    withUpstreamHeaderLists();
    type Common = { setupOutgoing(outgoing: object, options: object, req: object): { headers: unknown } };
    const common = createRequire(import.meta.url)('http-proxy/lib/http-proxy/common.js') as Common;
    const options = { target: { protocol: 'http:', host: 'upstream', port: 80 }, prependPath: false, toProxy: true, agent: {} };
    const marked = { url: '/', method: 'GET', headers: { 'x-auth-user': 'mallory' } } as unknown as Parameters<typeof setUpstreamHeaders>[0];
    setUpstreamHeaders(marked, ['x-auth-user', 'alice']);
    assert.deepEqual(common.setupOutgoing({}, options, marked).headers, ['x-auth-user', 'alice']);
    assert.deepEqual(common.setupOutgoing({}, options, { url: '/', method: 'GET', headers: { upgrade: 'websocket' } }).headers, { upgrade: 'websocket' });
    // Without a pooled agent http-proxy needs its object (Connection: close): a list is refused.
    assert.throws(() => common.setupOutgoing({}, { ...options, agent: false }, marked), /pooled agent/);
  });
});

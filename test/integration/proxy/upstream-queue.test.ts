/**
 * A request that waits for a connection to its upstream (every socket of the route busy with
 * long answers: event streams, long polls) has the route timeout too, and only such a request
 * pays for a timer. Run with one socket per route instead of 1024.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RouteConfig } from '../../../src/config/schema.js';
import { createLogger } from '../../../src/observability/logger.js';
import { Forwarder } from '../../../src/proxy/forwarder.js';
import type { CompiledRoute } from '../../../src/proxy/routes.js';
import { timedAgent, UPSTREAM_TIMEOUT } from '../../../src/proxy/timed-agent.js';
import { setUpstreamHeaders } from '../../../src/proxy/upstream-headers.js';

/**
 * An upstream that holds /stream answers open until released, with a heartbeat well within the
 * route timeout (an idle stream would time out on its own socket), and answers anything else at once.
 */
async function startStreamingUpstream(): Promise<{ url: string; port: number; release(): void; close(): Promise<void> }> {
  const open = new Set<ServerResponse>();
  const server: Server = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': hello\n\n');
      open.add(res);
      res.on('close', () => open.delete(res));
      return;
    }
    res.end('fast');
  });
  const beat = setInterval(() => {
    for (const res of open) res.write(': beat\n\n');
  }, 50);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    release: () => {
      for (const res of open) res.end();
    },
    close: async () => {
      clearInterval(beat);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function get(port: number, path: string, agent: Agent): Promise<{ status: number; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => resolve({ status: res.statusCode ?? 0, res }));
    req.on('error', reject);
    req.end();
  });
}

describe("a route's agent", () => {
  let upstream: Awaited<ReturnType<typeof startStreamingUpstream>>;

  before(async () => {
    upstream = await startStreamingUpstream();
  });
  after(async () => {
    await upstream?.close();
  });

  test('fails a request still waiting for a socket after the route timeout with an upstream timeout', async () => {
    const agent = timedAgent({ secure: false, timeoutMs: 300, maxSockets: 1 });
    try {
      const stream = await get(upstream.port, '/stream', agent);
      stream.res.resume();
      const started = performance.now();
      const err = await Promise.race([
        get(upstream.port, '/fast', agent).then(
          () => assert.fail('the queued request was answered although the only socket was busy'),
          (e: NodeJS.ErrnoException) => e,
        ),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the queued request neither failed nor got an answer within 3 s')), 3000).unref()),
      ]);
      const waited = performance.now() - started;
      assert.equal(err.code, UPSTREAM_TIMEOUT);
      assert.ok(waited >= 250 && waited < 2000, `failed after ${Math.round(waited)} ms`);
      assert.deepEqual(Object.keys((agent as unknown as { requests: object }).requests), [], 'the failed request left the queue');
    } finally {
      upstream.release();
      agent.destroy();
    }
  });

  test('lets a queued request through when a socket comes free in time', async () => {
    const agent = timedAgent({ secure: false, timeoutMs: 1000, maxSockets: 1 });
    try {
      const stream = await get(upstream.port, '/stream', agent);
      stream.res.resume();
      const queued = get(upstream.port, '/fast', agent);
      setTimeout(() => upstream.release(), 100);
      const { status, res } = await queued;
      res.resume();
      assert.equal(status, 200);
    } finally {
      upstream.release();
      agent.destroy();
    }
  });

  test('arms no timer for a request that gets a socket at once', async () => {
    const agent = timedAgent({ secure: false, timeoutMs: 1000, maxSockets: 1 });
    const realSetTimeout = globalThis.setTimeout;
    let armed = 0;
    try {
      // Once on a new connection, once on a pooled one.
      for (let i = 0; i < 2; i++) {
        globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
          armed++;
          return realSetTimeout(...args);
        }) as typeof setTimeout;
        const answered = get(upstream.port, '/fast', agent);
        globalThis.setTimeout = realSetTimeout;
        const { status, res } = await answered;
        res.resume();
        await new Promise((resolve) => res.on('end', resolve));
        assert.equal(status, 200);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(armed, 0);
      // Control: a queued request does arm one.
      const stream = await get(upstream.port, '/stream', agent);
      stream.res.resume();
      globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
        armed++;
        return realSetTimeout(...args);
      }) as typeof setTimeout;
      const queued = get(upstream.port, '/fast', agent);
      globalThis.setTimeout = realSetTimeout;
      assert.equal(armed, 1);
      upstream.release();
      (await queued).res.resume();
    } finally {
      globalThis.setTimeout = realSetTimeout;
      upstream.release();
      agent.destroy();
    }
  });
});

describe('forwarding while every connection to the upstream is busy', () => {
  let upstream: Awaited<ReturnType<typeof startStreamingUpstream>>;
  let forwarder: Forwarder;
  let front: Server;
  let frontPort: number;
  const failures: string[] = [];

  before(async () => {
    upstream = await startStreamingUpstream();
    forwarder = new Forwarder({
      logger: createLogger({ level: 'error', write: () => undefined }),
      maxSockets: 2,
      maxPerClient: 1,
      hooks: {
        onError: (kind, _req, res) => {
          failures.push(kind);
          if ('writeHead' in res) res.writeHead(kind === 'timeout' ? 504 : kind === 'busy' ? 503 : 502).end();
        },
      },
    });
    const config = {
      name: 'app',
      host: '',
      path_prefix: '/',
      upstream: upstream.url,
      strip_prefix: false,
      preserve_host: false,
      websocket: true,
      timeout: 400,
      pass_credentials: false,
      max_sockets: 1024,
      case_insensitive_paths: false,
      identity_headers: true,
      query_credentials: false,
    } satisfies RouteConfig;
    const route: CompiledRoute = { config, name: 'app', host: '', prefix: '', upstreamHost: new URL(upstream.url).host };
    front = createServer((req, res) => {
      const client = String(req.headers['x-client'] ?? 'one');
      setUpstreamHeaders(req, ['host', route.upstreamHost]);
      forwarder.web(route, req, res, client);
    });
    await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
    frontPort = (front.address() as AddressInfo).port;
  });
  after(async () => {
    upstream?.release();
    forwarder?.close();
    front?.closeAllConnections();
    await new Promise<void>((resolve) => front?.close(() => resolve()));
    await upstream?.close();
  });

  const streamFor = (client: string): Promise<{ status: number; res: IncomingMessage }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: frontPort, path: '/stream', agent: false, headers: { 'x-client': client } }, (res) => resolve({ status: res.statusCode ?? 0, res }));
      req.on('error', reject);
      req.end();
    });

  test('a client holding its share waits in the queue, then gets 503 busy within the route timeout', async () => {
    failures.length = 0;
    const stream = await streamFor('one');
    stream.res.resume();
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${frontPort}/fast`, { headers: { 'x-client': 'one' }, signal: AbortSignal.timeout(5000) });
    const waited = performance.now() - started;
    assert.equal(res.status, 503);
    assert.deepEqual(failures, ['busy']);
    assert.ok(waited >= 300 && waited < 2000, `answered after ${Math.round(waited)} ms`);
    // Another client is not held up by the first one's share.
    const other = await fetch(`http://127.0.0.1:${frontPort}/fast`, { headers: { 'x-client': 'two' }, signal: AbortSignal.timeout(5000) });
    assert.equal(other.status, 200);
    assert.equal(await other.text(), 'fast');
    upstream.release();
  });

  test('a queued request gets the slot its client gives back, and a full queue answers 503 at once', async () => {
    failures.length = 0;
    const first = await streamFor('one');
    first.res.resume();
    const queued = fetch(`http://127.0.0.1:${frontPort}/fast`, { headers: { 'x-client': 'one' }, signal: AbortSignal.timeout(5000) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // One request of client "one" waits already: its second waiting request is refused at once.
    const started = performance.now();
    const refused = await fetch(`http://127.0.0.1:${frontPort}/fast`, { headers: { 'x-client': 'one' }, signal: AbortSignal.timeout(5000) });
    assert.equal(refused.status, 503);
    assert.ok(performance.now() - started < 200, 'refused without waiting');
    setTimeout(() => upstream.release(), 50);
    const answered = await queued;
    assert.equal(answered.status, 200);
    assert.equal(await answered.text(), 'fast');
    assert.deepEqual(failures, ['busy']);
  });
});

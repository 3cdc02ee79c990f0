/**
 * What the client receives of an upstream answer, and what the upstream receives of a body:
 * the gateway writes the response head itself, so these pin down that nothing about the
 * upstream connection leaks through, repeated headers survive, broken answers end the client
 * response instead of hanging it, and a body keeps its framing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, get as httpGet, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

describe('upstream answers and request bodies', () => {
  let upstream: Server;
  let upstreamUrl: string;
  let gw: TestGateway;
  const seen: Seen[] = [];
  let clientGone: Promise<void> = Promise.resolve();
  let markClientGone: () => void = () => undefined;
  const BIG = 48 * 1024 * 1024;
  let bigFinishedAt = 0;

  before(async () => {
    upstream = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        if (req.url === '/hop') {
          res.writeHead(201, 'Made It', [
            'Content-Type',
            'text/plain',
            'Connection',
            'keep-alive, X-Upstream-Private',
            'X-Upstream-Private',
            'secret',
            'Keep-Alive',
            'timeout=5',
            'Proxy-Connection',
            'keep-alive',
            'Upgrade',
            'h2c',
            'X-Request-Id',
            'upstream-made-this',
            'Set-Cookie',
            'a=1; Path=/',
            'Set-Cookie',
            'b=2; Path=/',
            'Content-Length',
            '2',
          ]);
          res.end('ok');
        } else if (req.url === '/dies') {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
          res.write('only a little');
          setTimeout(() => res.socket?.destroy(), 50);
        } else if (req.url === '/big') {
          // BIG bytes in 64 KiB chunks, written as fast as the gateway takes them.
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(BIG) });
          let sent = 0;
          const more = (): void => {
            while (sent < BIG) {
              const chunk = Buffer.alloc(Math.min(65_536, BIG - sent), sent / 65_536);
              sent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', more);
            }
            res.end(() => (bigFinishedAt = performance.now()));
          };
          more();
        } else if (req.url === '/empty') {
          res.writeHead(204, { 'x-empty': 'yes' });
          res.end();
        } else if (req.url === '/slow-stream') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first');
          const timer = setInterval(() => res.write('.'), 50);
          res.on('close', () => {
            clearInterval(timer);
            markClientGone();
          });
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true }));
        }
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startGateway({
      config: {
        routes: [
          { name: 'app', path_prefix: '/', upstream: upstreamUrl },
          { name: 'kept', path_prefix: '/kept', upstream: upstreamUrl, preserve_host: true, strip_prefix: true },
        ],
        access: { default_policy: 'deny', rules: [{ name: 'open', paths: ['/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    upstream?.closeAllConnections();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  test('headers about the upstream connection are dropped; repeated headers, status text and the request id survive', async () => {
    const res = await gw.fetch('/hop');
    assert.equal(res.status, 201);
    assert.equal(res.statusText, 'Made It');
    assert.equal(await res.text(), 'ok');
    assert.equal(res.headers.get('x-upstream-private'), null);
    assert.equal(res.headers.get('proxy-connection'), null);
    assert.equal(res.headers.get('upgrade'), null);
    assert.notEqual(res.headers.get('keep-alive'), 'timeout=5');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1; Path=/', 'b=2; Path=/']);
    const requestId = res.headers.get('x-request-id');
    assert.ok(requestId && requestId !== 'upstream-made-this');
    assert.equal(seen.at(-1)?.headers['x-request-id'], requestId, 'the upstream saw the same request id');
  });

  test('the upstream receives its own Host, or the client one with preserve_host', async () => {
    await (await gw.fetch('/x')).arrayBuffer();
    assert.equal(seen.at(-1)?.headers.host, new URL(upstreamUrl).host);
    await (await gw.fetch('/kept/y')).arrayBuffer();
    assert.equal(seen.at(-1)?.url, '/y');
    assert.equal(seen.at(-1)?.headers.host, new URL(gw.url).host);
  });

  test('an upstream that dies mid-body ends the client response instead of leaving it waiting', async () => {
    const res = await gw.fetch('/dies');
    assert.equal(res.status, 200);
    const hung = new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000).unref());
    await assert.rejects(Promise.race([res.text(), hung]), 'a truncated body is an error, not a complete answer or a wait');
    assert.equal((await gw.fetch('/x')).status, 200, 'the gateway is still up');
  });

  test('a large answer to a slow client arrives intact, and the upstream is held back while the client reads nothing', async () => {
    bigFinishedAt = 0;
    const result = await new Promise<{ length: number; digest: string; resumedAt: number }>((resolve, reject) => {
      httpGet(`${gw.url}/big`, (res) => {
        const hash = createHash('sha256');
        let length = 0;
        let resumedAt = 0;
        res.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          length += chunk.length;
        });
        // The client stops reading after its first bytes, for longer than the upstream needs to write everything.
        res.once('data', () => {
          res.pause();
          setTimeout(() => {
            resumedAt = performance.now();
            res.resume();
          }, 1500);
        });
        res.on('end', () => resolve({ length, digest: hash.digest('hex'), resumedAt }));
        res.on('error', reject);
      }).on('error', reject);
    });
    const expected = createHash('sha256');
    for (let sent = 0; sent < BIG; sent += 65_536) expected.update(Buffer.alloc(Math.min(65_536, BIG - sent), sent / 65_536));
    assert.equal(result.length, BIG);
    assert.equal(result.digest, expected.digest('hex'));
    // Without backpressure the gateway would have read all of it into memory while the client paused.
    assert.ok(bigFinishedAt > result.resumedAt, 'the upstream finished writing only after the client read again');
  });

  test('an answer without a body (204, HEAD) ends the client response with its headers', async () => {
    const empty = await gw.fetch('/empty');
    assert.equal(empty.status, 204);
    assert.equal(empty.headers.get('x-empty'), 'yes');
    assert.equal(await empty.text(), '');
    const head = await gw.fetch('/x', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'application/json');
    assert.equal(await head.text(), '');
    assert.equal((await gw.fetch('/x')).status, 200, 'the connection carries on');
  });

  test('a client that goes away releases the upstream response', async () => {
    clientGone = new Promise<void>((resolve) => (markClientGone = resolve));
    await new Promise<void>((resolve, reject) => {
      const req = httpGet(`${gw.url}/slow-stream`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    const released = await Promise.race([clientGone.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000))]);
    assert.ok(released, 'the upstream saw its response closed');
  });

  /** Sends raw bytes on a fresh connection; the gateway's answer and what reached the upstream. */
  const sendRaw = async (bytes: string): Promise<{ answer: string; arrived: Seen[] }> => {
    const before = seen.length;
    const { port } = new URL(gw.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(bytes);
        setTimeout(() => socket.end(), 300);
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { answer, arrived: seen.slice(before) };
  };
  const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: upstream\r\nX-Auth-User: admin\r\n\r\n';

  // GET has no body by default in Node's client; DELETE and OPTIONS are the methods http-proxy
  // gave `Content-Length: 0` when the client sent none, which with a chunked body let its
  // bytes reach the upstream unframed, as a second request carrying whatever headers it liked.
  for (const method of ['GET', 'DELETE', 'OPTIONS']) {
    test(`a chunked body keeps its framing on ${method}, so nothing is smuggled as a second request`, async () => {
      const { answer, arrived } = await sendRaw(
        `${method} /x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`,
      );
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.deepEqual(
        arrived.map((s) => `${s.method} ${s.url}`),
        [`${method} /x`],
        'exactly one request reached the upstream',
      );
      assert.equal(arrived[0]?.body, smuggled);
      assert.equal(arrived[0]?.headers['transfer-encoding'], 'chunked');
    });
  }

  // A Connection header may name hop-by-hop headers to drop, but never the ones that frame the
  // body: without its Content-Length the body went upstream raw, as a second request.
  for (const [method, connection] of [
    ['GET', 'Content-Length'],
    ['GET', 'close, content_length'],
    ['DELETE', 'keep-alive, Content.Length'],
    ['OPTIONS', 'Content-Length, Transfer-Encoding'],
  ]) {
    test(`Connection: ${connection} on ${method} cannot strip the body's length`, async () => {
      const { answer, arrived } = await sendRaw(`${method} /x HTTP/1.1\r\nHost: gw\r\nConnection: ${connection}\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.deepEqual(
        arrived.map((s) => `${s.method} ${s.url}`),
        [`${method} /x`],
        'exactly one request reached the upstream',
      );
      assert.equal(arrived[0]?.headers['content-length'], String(smuggled.length));
      assert.equal(arrived[0]?.body, smuggled);
    });
  }

  test('a DELETE or OPTIONS without a body tells the upstream its length is 0', async () => {
    for (const method of ['DELETE', 'OPTIONS']) {
      const res = await gw.fetch('/x', { method });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
      assert.equal(seen.at(-1)?.method, method);
      assert.equal(seen.at(-1)?.headers['content-length'], '0');
      assert.equal(seen.at(-1)?.headers['transfer-encoding'], undefined);
    }
  });

  test('a request body with Content-Length arrives intact', async () => {
    const body = 'x'.repeat(100_000);
    const res = await gw.fetch('/x', { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    assert.equal(seen.at(-1)?.body, body);
    assert.equal(seen.at(-1)?.headers['content-length'], '100000');
  });
});

/**
 * Review: attacks on the requests refused before authentication (SPEC 5, 6): `_method` in
 * other spellings and bodies, method case, CONNECT targets, header counts, trailers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const bob = 'Basic ' + Buffer.from('bob:Bob-Passw0rd1').toString('base64');

/** One raw exchange on its own connection; chunks are written with a pause between them. */
function raw(url: string, chunks: string[]): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, _reject) => {
    const socket = connect(Number(port), '127.0.0.1', async () => {
      for (const chunk of chunks) {
        socket.write(chunk);
        await new Promise((r) => setTimeout(r, 30));
      }
    });
    let out = '';
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.setTimeout(4000, () => {
      socket.destroy();
      resolve(out);
    });
  });
}

const status = (text: string): number => Number(text.slice(9, 12));

describe('review: request guards', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/public/**'], policy: 'public' }] },
      },
    });
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('_method in a multipart/form-data body is 400 method_override, never forwarded', async () => {
    const before = upstream.received.length;
    const boundary = 'XyZ';
    const body = `--${boundary}\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--${boundary}--\r\n`;
    const answer = await raw(gw.url, [
      `POST /items/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${bob}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    ]);
    assert.equal(status(answer), 400, answer.slice(0, 200));
    assert.match(answer, /method_override/);
    assert.equal(upstream.received.length, before, 'the multipart _method reached the upstream');
  });

  test('_method after a ; separator in the query is 400 method_override', async () => {
    const before = upstream.received.length;
    const res = await gw.fetch('/public/x?a=1;_method=DELETE');
    assert.equal(res.status, 400);
    assert.equal(upstream.received.length, before, 'forwarded: backends splitting queries on ; (Rack 2, old Python) read _method');
  });

  test('_method in a form body split across TCP chunks, odd-cased Content-Type with parameters, is refused', async () => {
    const before = upstream.received.length;
    const body = 'a=1&_met' + 'hod=DELETE';
    const answer = await raw(gw.url, [
      `POST /items HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${bob}\r\nContent-Type: Application/X-WWW-Form-URLEncoded ; Charset=UTF-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      `8\r\n${body.slice(0, 8)}\r\n`,
      `${(body.length - 8).toString(16)}\r\n${body.slice(8)}\r\n`,
      '0\r\n\r\n',
    ]);
    assert.equal(status(answer), 400, answer.slice(0, 200));
    assert.equal(upstream.received.length, before);
  });

  test('_method spellings: double-encoded is a different name, leading +, bracket escapes and %00-free forms are refused', async () => {
    for (const query of ['+_method=x', '%20_method=x', '_method%5B%5D=DELETE', '_%6d%65%74%68%6f%64=PUT', 'x=1&&_method=PUT', '_method']) {
      assert.equal((await gw.fetch(`/public/x?${query}`)).status, 400, query);
    }
    // %255F decodes once to %5F: a backend decoding once reads the name "%5Fmethod", not _method.
    assert.equal((await gw.fetch('/public/x?%255Fmethod=x')).status, 200);
  });

  test('lower- and mixed-case trace, and TRACE as an upgrade, are never forwarded', async () => {
    const before = upstream.received.length;
    for (const method of ['trace', 'Trace', 'track']) {
      const answer = await raw(gw.url, [`${method} /public/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`]);
      assert.ok(status(answer) >= 400 && status(answer) < 500, `${method}: ${answer.slice(0, 40)}`);
    }
    const upgrade = await raw(gw.url, [
      'TRACE /public/x HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ]);
    assert.equal(status(upgrade), 405, upgrade.slice(0, 60));
    assert.equal(upstream.received.length, before);
    assert.equal(upstream.upgrades.length, 0);
  });

  test('CONNECT with an absolute-form or origin-form target is 405 and opens no tunnel', async () => {
    for (const target of ['http://127.0.0.1:22/', '/public/x', `127.0.0.1:${upstream.port}`]) {
      const answer = await raw(gw.url, [`CONNECT ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}\r\n\r\n`]);
      assert.equal(status(answer), 405, `${target}: ${answer.slice(0, 60)}`);
    }
    assert.equal(upstream.received.length === 0 || !upstream.received.some((r) => r.method === 'CONNECT'), true);
  });

  test('header count: 101 duplicated fields is 431, 100 fields pass, duplicated Cookie lines count one each', async () => {
    const before = upstream.received.length;
    const dup = (n: number, line: string): string => Array.from({ length: n }, () => line).join('');
    // Host + Connection + 99 = 101 fields.
    assert.equal(status(await raw(gw.url, [`GET /public/x HTTP/1.1\r\nHost: localhost\r\n${dup(99, 'X-Same: 1\r\n')}Connection: close\r\n\r\n`])), 431);
    assert.equal(status(await raw(gw.url, [`GET /public/x HTTP/1.1\r\nHost: localhost\r\n${dup(99, 'Cookie: a=1\r\n')}Connection: close\r\n\r\n`])), 431);
    assert.equal(upstream.received.length, before);
    assert.equal(status(await raw(gw.url, [`GET /public/x HTTP/1.1\r\nHost: localhost\r\n${dup(98, 'X-Same: 1\r\n')}Connection: close\r\n\r\n`])), 200);
  });

  test('header count on a WebSocket upgrade: 431, not proxied', async () => {
    const many = Array.from({ length: 120 }, (_, i) => `X-F${i}: 1\r\n`).join('');
    const answer = await raw(gw.url, [
      `GET /public/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${many}\r\n`,
    ]);
    assert.equal(status(answer), 431);
    assert.equal(upstream.upgrades.length, 0);
  });
});

describe('review: trailers never carry headers upstream', () => {
  let trailerUpstream: Server;
  const seen: Array<{ headers: Record<string, unknown>; trailers: string[] }> = [];
  let gw: TestGateway;
  before(async () => {
    trailerUpstream = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push({ headers: req.headers, trailers: req.rawTrailers });
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => trailerUpstream.listen(0, '127.0.0.1', resolve));
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: `http://127.0.0.1:${(trailerUpstream.address() as AddressInfo).port}` }],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/public/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    trailerUpstream?.closeAllConnections();
    await new Promise<void>((resolve) => trailerUpstream?.close(() => resolve()));
  });

  test('an identity header or 150 fields in chunked trailers reach the upstream neither as headers nor trailers', async () => {
    const trailers = 'X-Auth-User: admin\r\nX-Auth-Roles: admin\r\n' + Array.from({ length: 150 }, (_, i) => `X-T${i}: 1\r\n`).join('');
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const answer = await raw(gw.url, [
        `POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\nTrailer: X-Auth-User\r\nConnection: close\r\n\r\n3\r\na=b\r\n0\r\n${trailers}\r\n`,
      ]);
      assert.ok(status(answer) === 200 || status(answer) === 431, answer.slice(0, 60));
    }
    for (const r of seen) {
      assert.equal(r.headers['x-auth-user'], undefined);
      assert.ok(!r.trailers.some((t) => /x-auth/i.test(t)), `trailers forwarded: ${r.trailers.slice(0, 4).join(',')}`);
    }
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { send } from '../../helpers/send.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const bob = 'Basic ' + Buffer.from('bob:Bob-Passw0rd1').toString('base64');

/** One raw HTTP/1.1 exchange: what the gateway wrote back, as text. */
function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (chunk) => (out += chunk.toString('latin1')));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
  });
}

describe('hardening: requests refused before authentication, form bodies, own headers', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        server: { max_inspect_body: '1KiB' },
        routes: [
          { name: 'ci', path_prefix: '/ci/', upstream: upstream.url, case_insensitive_paths: true },
          { name: 'app', path_prefix: '/', upstream: upstream.url },
        ],
        access: {
          default_policy: 'authenticated',
          rules: [
            { name: 'open', paths: ['/public/**'], policy: 'public' },
            { name: 'admin-area', paths: ['/admin/**', '/ci/admin/**'], roles: ['admin'] },
          ],
        },
      },
    });
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('TRACE, TRACK and CONNECT are answered 405 on every route, before authentication, and never forwarded', async () => {
    const before = upstream.received.length;
    for (const method of ['TRACE', 'TRACK']) {
      const res = await send(gw.url, { method, path: '/public/x', headers: {} });
      assert.equal(res.status, 405, method);
      assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'method_not_allowed');
      assert.equal((await send(gw.url, { method, path: '/admin/x', headers: { authorization: admin } })).status, 405);
    }
    const connectAnswer = await raw(gw.url, 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n');
    assert.match(connectAnswer, /^HTTP\/1\.1 405 /);
    assert.equal(upstream.received.length, before, 'nothing reached the upstream');
  });

  test('more than server.max_header_count header fields is 431, never forwarded or truncated', async () => {
    const before = upstream.received.length;
    const many = (n: number): string => Array.from({ length: n }, (_, i) => `X-Filler-${i}: ${i}\r\n`).join('');
    assert.match(await raw(gw.url, `GET /public/x HTTP/1.1\r\nHost: localhost\r\n${many(150)}Connection: close\r\n\r\n`), /^HTTP\/1\.1 431 /);
    // Past Node's own limit of 2,000 fields too: refused, not truncated to a request that passes.
    assert.match(await raw(gw.url, `GET /public/x HTTP/1.1\r\nHost: localhost\r\n${many(2500).slice(0, 30_000)}Connection: close\r\n\r\n`), /^HTTP\/1\.1 431 /);
    assert.equal(upstream.received.length, before);
    assert.match(await raw(gw.url, `GET /public/x HTTP/1.1\r\nHost: localhost\r\n${many(90)}Connection: close\r\n\r\n`), /^HTTP\/1\.1 200 /);
  });

  test('a _method query parameter in any spelling is 400 method_override; other names pass', async () => {
    for (const query of ['_method=DELETE', '_METHOD=delete', '%5Fmethod=PUT', '%5f%4Dethod=PUT', 'a=1&_method[]=DELETE', '_method.x=1', '_Method']) {
      const res = await gw.fetch(`/public/x?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'method_override', query);
    }
    for (const query of ['my_method=x', 'method=DELETE', 'q=_method']) assert.equal((await gw.fetch(`/public/x?${query}`)).status, 200, query);
  });

  test('a form body naming _method is refused; other form bodies reach the upstream byte-identical, framing kept', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: bob };
    for (const body of ['_method=DELETE', 'a=1&_METHOD=put', 'x=1&%5Fmethod=DELETE']) {
      const before = upstream.received.length;
      const res = await send(gw.url, { method: 'POST', path: '/items', headers: form, body });
      assert.equal(res.status, 400, body);
      assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'method_override');
      assert.equal(upstream.received.length, before, 'never forwarded');
    }
    const body = 'name=caf%C3%A9&note=a+b&method=x';
    const sized = await send(gw.url, { method: 'POST', path: '/items', headers: form, body });
    assert.equal(sized.status, 200);
    assert.equal(upstream.last().body, body);
    assert.equal(upstream.last().headers['content-length'], String(body.length));
    const chunked = await send(gw.url, { method: 'POST', path: '/items', headers: form, body, chunked: true });
    assert.equal(chunked.status, 200);
    assert.equal(upstream.last().body, body);
    assert.equal(upstream.last().headers['transfer-encoding'], 'chunked');
    assert.equal(upstream.last().headers['content-length'], undefined);
  });

  test('a form body that cannot be inspected (too long, compressed) is 400 body_not_inspectable; JSON stays streamed', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: bob };
    const before = upstream.received.length;
    const long = await send(gw.url, { method: 'POST', path: '/items', headers: form, body: 'a=' + 'x'.repeat(2000) });
    assert.equal(long.status, 400);
    assert.equal((JSON.parse(long.text) as { error: { code: string } }).error.code, 'body_not_inspectable');
    const longChunked = await send(gw.url, { method: 'POST', path: '/items', headers: form, body: 'a=' + 'x'.repeat(2000), chunked: true });
    assert.equal(longChunked.status, 400);
    const gz = await send(gw.url, { method: 'POST', path: '/items', headers: { ...form, 'content-encoding': 'gzip' }, body: gzipSync('_method=DELETE') });
    assert.equal(gz.status, 400);
    assert.equal(upstream.received.length, before, 'none was forwarded');
    const json = await send(gw.url, { method: 'POST', path: '/items', headers: { 'content-type': 'application/json', authorization: bob }, body: JSON.stringify({ big: 'x'.repeat(5000) }) });
    assert.equal(json.status, 200, 'a JSON body is not read by the gateway');
  });

  test('answers the gateway writes carry nosniff and Referrer-Policy, pages a CSP; upstream answers are not altered', async () => {
    for (const res of [
      await gw.fetch('/admin/x'),
      await gw.fetch('/nowhere', { headers: { host: 'localhost' } }),
      await gw.fetch('/public/x?_method=x'),
      await gw.fetch('/.auth/me'),
      await gw.fetch('/.auth/login'),
    ]) {
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', res.url);
      assert.equal(res.headers.get('referrer-policy'), 'same-origin', res.url);
      assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS on http');
    }
    const login = await gw.fetch('/.auth/login');
    const csp = login.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'", "script-src 'self'"]) assert.ok(csp.includes(directive), directive);
    assert.ok(!/<script(?![^>]*\bsrc=)/i.test(await login.text()), 'no inline script');
    assert.equal((await gw.fetch('/.auth/me', { headers: { authorization: bob } })).headers.get('cache-control'), 'no-store');
    const proxied = await gw.fetch('/public/x');
    assert.equal(proxied.status, 200);
    assert.equal(proxied.headers.get('x-content-type-options'), null, 'the upstream answer is passed on as it was');
    assert.equal(proxied.headers.get('referrer-policy'), null);
  });

  test('a route with case_insensitive_paths judges /ADMIN/ as /admin/ and forwards the path as sent', async () => {
    assert.equal((await gw.fetch('/ci/ADMIN/x', { headers: { authorization: bob } })).status, 403);
    assert.equal((await gw.fetch('/ci/Admin/x', { headers: { authorization: bob } })).status, 403);
    const allowed = await gw.fetch('/ci/ADMIN/x', { headers: { authorization: admin } });
    assert.equal(allowed.status, 200);
    assert.equal(upstream.last().url, '/ci/ADMIN/x');
    // Without the option the path is matched as sent (the rule does not see /ADMIN/).
    assert.equal((await gw.fetch('/ADMIN/x', { headers: { authorization: bob } })).status, 200);
  });

  test("optional bodies: revoke without a body (chunked and empty, or none) is decided by the caller's right first", async () => {
    await gw.registry.users.create({ username: 'carl', password: 'Carl-Passw0rd1', roles: ['user'] }, undefined);
    const empty = { method: 'POST', path: '/.auth/api/users/carl/revoke', chunked: true, body: '' };
    assert.equal((await send(gw.url, { ...empty, headers: { authorization: bob } })).status, 403, 'non-admin, chunked empty body');
    assert.equal((await send(gw.url, { ...empty, headers: { authorization: bob, 'content-type': 'text/plain' }, body: 'x' })).status, 403, 'non-admin, any body: 403 before the type');
    assert.equal((await send(gw.url, { ...empty, headers: { authorization: bob, 'content-type': 'application/json' }, body: '{not json' })).status, 403, 'non-admin, broken JSON: 403 before parsing');
    assert.equal((await send(gw.url, { method: 'POST', path: '/.auth/api/users/carl/revoke', headers: { authorization: admin } })).status, 204, 'admin, no body');
    assert.equal((await send(gw.url, { ...empty, headers: { authorization: admin } })).status, 204, 'admin, chunked empty body');
    assert.equal((await send(gw.url, { ...empty, headers: { authorization: admin, 'content-type': 'text/plain' }, body: 'x' })).status, 415, 'admin, a non-JSON body');
  });

  test('POST /.auth/token with Basic is refused cross-site, as the API refuses it', async () => {
    const crossSite = await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: bob, origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 403);
    assert.equal(((await crossSite.json()) as { error: { code: string } }).error.code, 'csrf_rejected');
    assert.equal((await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: bob, origin: 'http://evil.example' } })).status, 403);
    assert.equal((await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: bob } })).status, 201, 'a CLI without Origin');
  });
});

describe('upstream Set-Cookie of the session cookie, in any spelling', () => {
  let planter: Server;
  let gw: TestGateway;
  before(async () => {
    planter = createServer((_req, res) => {
      res.setHeader('set-cookie', ['=portcullis_session=planted; Path=/', 'Portcullis_Session=planted', 'portcullis_session', ' = portcullis_session=x', 'theme=dark; Path=/']);
      res.end('ok');
    });
    await new Promise<void>((resolve) => planter.listen(0, '127.0.0.1', resolve));
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: `http://127.0.0.1:${(planter.address() as AddressInfo).port}` }],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await new Promise<void>((resolve) => planter?.close(() => resolve()));
  });

  test('is dropped, nameless and other-case spellings included; other cookies pass', async () => {
    const res = await gw.fetch('/x');
    assert.deepEqual(res.headers.getSetCookie(), ['theme=dark; Path=/']);
  });
});

describe('HSTS when public_url is https', () => {
  test("every answer the gateway writes carries Strict-Transport-Security; the upstream's do not", async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      config: {
        server: { public_url: 'https://gw.example' },
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/public/**'], policy: 'public' }] },
      },
    });
    try {
      for (const path of ['/x', '/.auth/login', '/.auth/me', '/public/x?_method=1']) assert.equal((await gw.fetch(path)).headers.get('strict-transport-security'), 'max-age=31536000', path);
      assert.equal((await gw.fetch('/public/x')).headers.get('strict-transport-security'), null);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

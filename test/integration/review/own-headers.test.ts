/**
 * Review: the headers every answer the gateway writes itself carries (SPEC 7), on the answers
 * that are easy to forget: upstream errors, refused upgrades, Node's own parser errors, pages.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.setTimeout(4000, () => socket.destroy());
  });
}

/** The header block of a raw answer, lower-cased names. */
function headersOf(answer: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of answer.split('\r\n\r\n')[0]!.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) map.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return map;
}

function assertOwn(what: string, get: (name: string) => string | null | undefined): void {
  assert.equal(get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(get('referrer-policy'), 'same-origin', `${what}: Referrer-Policy`);
  assert.equal(get('strict-transport-security'), 'max-age=31536000', `${what}: HSTS`);
}

describe('review: own headers on every gateway answer (public_url https)', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        server: { public_url: 'https://gw.example' },
        routes: [
          { name: 'slow', path_prefix: '/slow/', upstream: upstream.url, timeout: '200ms' },
          { name: 'dead', path_prefix: '/dead/', upstream: 'http://127.0.0.1:1' },
          { name: 'nows', path_prefix: '/nows/', upstream: upstream.url, websocket: false },
          { name: 'main', path_prefix: '/m/', upstream: upstream.url },
        ],
        access: { default_policy: 'authenticated', rules: [{ name: 'open', paths: ['/public/**', '/slow/**', '/dead/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('502, 504, 404 no route, 302 to the login page, 401 JSON', async () => {
    const dead = await gw.fetch('/dead/x');
    assert.equal(dead.status, 502);
    assertOwn('502', (n) => dead.headers.get(n));
    upstream.delayMs = 1000;
    const slow = await gw.fetch('/slow/x');
    upstream.delayMs = 0;
    assert.equal(slow.status, 504);
    assertOwn('504', (n) => slow.headers.get(n));
    const none = await gw.fetch('/x');
    assert.equal(none.status, 404);
    assertOwn('404', (n) => none.headers.get(n));
    const login = await gw.fetch('/m/private', { headers: { accept: 'text/html' } });
    assert.equal(login.status, 302);
    assertOwn('302', (n) => login.headers.get(n));
    const json = await gw.fetch('/m/private');
    assert.equal(json.status, 401);
    assertOwn('401', (n) => json.headers.get(n));
  });

  test('405, 431 and 400 method_override', async () => {
    for (const text of [
      'TRACE / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      `GET / HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 120 }, (_, i) => `X-${i}: 1\r\n`).join('')}Connection: close\r\n\r\n`,
      'GET /public/x?_method=PUT HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
    ]) {
      const answer = await raw(gw.url, text);
      const h = headersOf(answer);
      assertOwn(answer.slice(0, 12), (n) => h.get(n));
    }
  });

  test('/.auth endpoints: jwks, assets, admin API errors, unknown paths', async () => {
    for (const path of ['/.auth/jwks.json', '/.auth/assets/style.css', '/.auth/api/users', '/.auth/api/nowhere', '/.auth/nowhere', '/.auth/healthz']) {
      const res = await gw.fetch(path);
      assertOwn(path, (n) => res.headers.get(n));
    }
    const api = await gw.fetch('/.auth/api/users', { headers: { authorization: admin } });
    assert.equal(api.status, 200);
    assert.equal(api.headers.get('cache-control'), 'no-store');
    const token = await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: admin } });
    assert.equal(token.status, 201);
    assert.equal(token.headers.get('cache-control'), 'no-store');
  });

  test('HTML pages carry a CSP (login, admin, password, failed JWT hand-off)', async () => {
    for (const path of ['/.auth/login', '/.auth/admin', '/.auth/password', '/.auth/jwt']) {
      const res = await gw.fetch(path, { headers: { accept: 'text/html' } });
      if (!(res.headers.get('content-type') ?? '').includes('text/html')) continue;
      const csp = res.headers.get('content-security-policy') ?? '';
      for (const d of ["default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"]) assert.ok(csp.includes(d), `${path}: ${d}`);
      assertOwn(path, (n) => res.headers.get(n));
    }
  });

  test('refused WebSocket upgrades (401, 403 websocket off, 404 no route) carry HSTS too', async () => {
    const upgrade = (path: string, host: string): string =>
      `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    for (const [path, host] of [
      ['/m/private', 'localhost'],
      ['/nows/x', 'localhost'],
      ['/x', 'localhost'],
      ['/.auth/me', 'localhost'],
    ] as const) {
      const answer = await raw(gw.url, upgrade(path, host));
      const h = headersOf(answer);
      assertOwn(`upgrade ${path} → ${answer.slice(9, 12)}`, (n) => h.get(n));
    }
  });

  test('Node parser errors (malformed header line, lowercase method) are answered with the own headers', async () => {
    for (const text of ['GET / HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n', 'trace / HTTP/1.1\r\nHost: localhost\r\n\r\n']) {
      const answer = await raw(gw.url, text);
      assert.match(answer, /^HTTP\/1\.1 4\d\d /);
      const h = headersOf(answer);
      assert.equal(h.get('x-content-type-options'), 'nosniff', `${JSON.stringify(text.slice(0, 20))}: ${answer.slice(0, 80)}`);
    }
  });
});

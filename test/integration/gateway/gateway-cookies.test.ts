/**
 * Only the gateway sets its session cookie, and only pages allowed by the issuer hand a
 * browser over: an upstream cannot plant a session (fixation, login CSRF), and a page of an
 * unrelated site cannot post its own token to /.auth/jwt to sign its visitor in as someone else.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { SignJWT } from 'jose';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
let gw: TestGateway;
let upstream: Server;
let planted = 'x'.repeat(43);
let jti = 0;

before(async () => {
  const cookies = (): string[] => [`portcullis_session=${planted}; Path=/; HttpOnly; SameSite=Lax`, 'app_pref=1; Path=/'];
  upstream = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'set-cookie': cookies() });
    res.end('ok');
  });
  upstream.on('upgrade', (req, socket) => {
    const setCookies = cookies()
      .map((c) => `Set-Cookie: ${c}\r\n`)
      .join('');
    if (req.url === '/public/refused') {
      // A refusal, chunked, with headers about the upstream connection and an id of its own.
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n${setCookies}X-Request-Id: upstream-id\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Upstream-Hop\r\nX-Upstream-Hop: 1\r\nTransfer-Encoding: chunked\r\n\r\n7\r\nrefused\r\n0\r\n\r\n`,
      );
      return;
    }
    socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${setCookies}\r\n`);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const port = (upstream.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      routes: [{ name: 'app', path_prefix: '/', upstream: `http://127.0.0.1:${port}` }],
      access: { default_policy: 'authenticated', rules: [{ name: 'pub', paths: ['/public/**'], policy: 'public' }] },
      jwt_issuers: [{ name: 'lab', issuer: 'https://lab.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET, handoff_origins: ['https://apps.lab.example'] }],
    },
  });
  await gw.registry.users.create({ username: 'mallory', password: 'Mallory-Passw0rd1', roles: ['user'] }, undefined);
});
after(async () => {
  await gw?.close();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

test("an upstream answer cannot set the gateway's session cookie, while its other cookies pass", async () => {
  planted = (await gw.login('mallory', 'Mallory-Passw0rd1')).split('=')[1] as string;
  const res = await gw.fetch('/public/page');
  assert.equal(res.status, 200);
  const cookies = res.headers.getSetCookie();
  assert.ok(cookies.some((c) => c.startsWith('app_pref=')));
  assert.deepEqual(
    cookies.filter((c) => c.startsWith('portcullis_session=')),
    [],
  );
});

test("an upstream's WebSocket handshake cannot set the gateway's session cookie either", async () => {
  const url = new URL(gw.url);
  const head = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(`GET /public/ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
    });
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
  assert.match(head, /^HTTP\/1\.1 101/);
  assert.match(head, /set-cookie: app_pref=1/i);
  assert.doesNotMatch(head, /portcullis_session=/i);
  assert.match(head, /^x-request-id: \S+$/im);
});

test("an upstream that refuses a WebSocket handshake cannot set the gateway's session cookie, and its answer is framed for the client", async () => {
  const url = new URL(gw.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      socket.write(
        `GET /public/refused HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      );
    });
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
  const [head = '', body] = answer.split('\r\n\r\n');
  assert.match(head, /^HTTP\/1\.1 403/);
  assert.match(head, /^set-cookie: app_pref=1/im);
  assert.doesNotMatch(head, /portcullis_session=/i);
  const ids = head.split('\r\n').filter((line) => /^x-request-id:/i.test(line));
  assert.equal(ids.length, 1, head);
  assert.doesNotMatch(ids[0] as string, /upstream-id/);
  assert.doesNotMatch(head, /^(keep-alive|transfer-encoding|x-upstream-hop):/im);
  assert.match(head, /^connection: close$/im);
  assert.equal(body, 'refused', 'the body arrives decoded and ends with the connection');
});

async function labToken(sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ roles: ['user'] })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setJti(`handoff-${++jti}`)
    .setIssuer('https://lab.example')
    .setAudience('portcullis')
    .setIssuedAt(now)
    .setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(HS_SECRET));
}

/** A browser's form post of a token to /.auth/jwt with the given fetch metadata; the session cookie it got, if any. */
async function postHandoff(headers: Record<string, string>): Promise<{ status: number; session: string | undefined }> {
  const res = await gw.fetch('/.auth/jwt', {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers },
    body: new URLSearchParams({ token: await labToken('eve'), rd: '/upload' }).toString(),
  });
  return { status: res.status, session: res.headers.getSetCookie().find((c) => c.startsWith('portcullis_session=') && !c.includes('Max-Age=0')) };
}

test('a token posted to /.auth/jwt by a page of an unrelated site signs nobody in', async () => {
  const crossSite = await postHandoff({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' });
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.session, undefined);
  // An older browser without fetch metadata still sends Origin on a form post.
  assert.equal((await postHandoff({ origin: 'https://evil.example' })).session, undefined);
  // A sandboxed or privacy-stripped origin is not an allowed one.
  assert.equal((await postHandoff({ origin: 'null', 'sec-fetch-site': 'cross-site' })).session, undefined);
  const failed = gw.events.filter((e) => e.event === 'UserLoginFailed' && e.reason === 'cross_site_handoff');
  assert.equal(failed.length, 3);
});

test("a token posted by a page of the issuer's origin, of a listed handoff origin, of the gateway itself or by a non-browser client signs in", async () => {
  const pages: Array<Record<string, string>> = [
    { origin: 'https://lab.example', 'sec-fetch-site': 'cross-site' },
    { origin: 'https://apps.lab.example', 'sec-fetch-site': 'same-site' },
    { origin: new URL(gw.url).origin, 'sec-fetch-site': 'same-origin' },
    {},
  ];
  for (const headers of pages) {
    const { status, session } = await postHandoff(headers);
    assert.equal(status, 303, JSON.stringify(headers));
    assert.ok(session, JSON.stringify(headers));
  }
});

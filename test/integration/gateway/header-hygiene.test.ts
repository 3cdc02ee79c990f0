import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawHeaderValues, startUpstream, type Upstream } from '../../helpers/upstream.js';

/** Sends a request with raw header lines exactly as given (duplicates, odd spellings). */
function rawRequest(url: string, path: string, headers: Array<[string, string]>, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const flat: string[] = ['Host', target.host];
    for (const [k, v] of headers) flat.push(k, v);
    const req = request({ host: target.hostname, port: target.port, path, method, headers: flat as unknown as Record<string, string> }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes bytes on a fresh connection and reads until the gateway closes it. */
function rawExchange(url: string, data: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(data));
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

/** Every value the upstream saw under a name that folds (as CGI, WSGI and PHP fold names) to `name`. */
function foldedHeaderValues(headers: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase().replace(/[_.]/g, '-') === name) out.push(headers[i + 1] as string);
  }
  return out;
}

describe('header hygiene towards the upstream', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  let basic: string;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [
          { name: 'app', path_prefix: '/', upstream: upstream.url },
          { name: 'creds', path_prefix: '/pass', upstream: upstream.url, pass_credentials: true },
        ],
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'pub', paths: ['/public/**'], policy: 'public' },
            { name: 'all', paths: ['/**'], policy: 'authenticated' },
          ],
        },
        // Its hand-off cookie carries an external JWT, a credential like the session cookie.
        jwt_issuers: [
          { name: 'portal', issuer: 'https://portal.example', audience: 'portcullis', algorithms: ['HS256'], secret: 'a-shared-secret-of-at-least-32-bytes!!', handoff_cookie: 'portal_handoff' },
        ],
      },
    });
    basic = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('strips spoofed identity headers in every spelling and sets each identity header once', async () => {
    const res = await rawRequest(gw.url, '/x', [
      ['Authorization', basic],
      ['X-Auth-User', 'root'],
      ['x-auth-user', 'root2'],
      ['X_Auth_User', 'root3'],
      ['X.Auth.Roles', 'admin'],
      ['X-AUTH-PROJECTS', 'everything'],
      ['X-Auth-Source', 'local'],
      ['X-Auth-Assertion', 'forged'],
      ['Remote-User', 'root'],
      ['X-Real-IP', '6.6.6.6'],
      ['X-Original-URL', '/admin'],
      ['X-Rewrite-URL', '/admin'],
      ['Forwarded', 'for=6.6.6.6;proto=https'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['X_Forwarded_Host', 'evil.example'],
      ['X-Forwarded-Proto', 'https'],
      ['True-Client-IP', '6.6.6.6'],
      ['X-Client-IP', '6.6.6.6'],
      ['Client_IP', '6.6.6.6'],
      ['X-Cluster-Client-IP', '6.6.6.6'],
      ['X-Forwarded', 'for=6.6.6.6'],
      ['X-Host', 'admin.example.org'],
      ['X-Auth-Request-Groups', 'admins'],
      ['X-Auth-Request-Preferred-Username', 'root'],
    ]);
    assert.equal(res.status, 200);
    const seen = upstream.last();
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-user'), ['admin']);
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-roles'), ['admin']);
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-projects'), ['']);
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-source'), ['local']);
    assert.equal(rawHeaderValues(seen, 'x-auth-assertion').length, 1);
    assert.notEqual(rawHeaderValues(seen, 'x-auth-assertion')[0], 'forged');
    for (const name of [
      'x_auth_user',
      'x.auth.roles',
      'remote-user',
      'x-real-ip',
      'x-original-url',
      'x-rewrite-url',
      'forwarded',
      'x_forwarded_host',
      'true-client-ip',
      'x-client-ip',
      'client_ip',
      'x-cluster-client-ip',
      'x-forwarded',
      'x-host',
      'x-auth-request-groups',
      'x-auth-request-preferred-username',
    ]) {
      assert.deepEqual(rawHeaderValues(seen, name), [], name);
    }
    assert.deepEqual(rawHeaderValues(seen, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(rawHeaderValues(seen, 'x-forwarded-proto'), ['http']);
  });

  test('a public request with spoofed identity headers reaches the upstream with none', async () => {
    const res = await rawRequest(gw.url, '/public/badge.svg', [
      ['X-Auth-User', 'admin'],
      ['X-Auth-Roles', 'admin'],
      ['x_auth_user', 'admin'],
    ]);
    assert.equal(res.status, 200);
    const seen = upstream.last();
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-user'), []);
    assert.deepEqual(rawHeaderValues(seen, 'x-auth-roles'), []);
    assert.deepEqual(rawHeaderValues(seen, 'x_auth_user'), []);
  });

  test('removes headers nominated by the client Connection header, method overrides and gateway credentials', async () => {
    const cookie = await gw.login('admin', ADMIN_PASSWORD);
    const res = await rawRequest(
      gw.url,
      '/x',
      [
        ['Cookie', `theme=dark; ${cookie}; portal_handoff=eyJhbGciOiJIUzI1NiJ9.e30.sig`],
        ['Connection', 'keep-alive, X-Hop-Secret'],
        ['X-Hop-Secret', 'v'],
        ['X-HTTP-Method-Override', 'DELETE'],
        ['X-Method-Override', 'DELETE'],
        ['X-HTTP-Method', 'DELETE'],
      ],
      'POST',
    );
    assert.equal(res.status, 200);
    const seen = upstream.last();
    assert.equal(seen.method, 'POST');
    assert.deepEqual(rawHeaderValues(seen, 'x-hop-secret'), []);
    assert.deepEqual(rawHeaderValues(seen, 'x-http-method-override'), []);
    assert.deepEqual(rawHeaderValues(seen, 'x-method-override'), []);
    assert.deepEqual(rawHeaderValues(seen, 'x-http-method'), []);
    assert.deepEqual(rawHeaderValues(seen, 'cookie'), ['theme=dark']);
    assert.deepEqual(rawHeaderValues(seen, 'authorization'), []);
  });

  test('forwards credentials only on a route with pass_credentials', async () => {
    const res = await rawRequest(gw.url, '/pass/x', [
      ['Authorization', basic],
      ['Cookie', 'portal_handoff=eyJhbGciOiJIUzI1NiJ9.e30.sig; theme=dark'],
    ]);
    assert.equal(res.status, 200);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'authorization'), [basic]);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'cookie'), ['portal_handoff=eyJhbGciOiJIUzI1NiJ9.e30.sig; theme=dark']);
    await rawRequest(gw.url, '/x', [['Authorization', basic]]);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'authorization'), []);
  });

  test("no spelling of the client's X-Request-Id reaches the upstream, only the gateway's own", async () => {
    for (const spelling of ['X-Request-Id', 'X_Request_Id', 'X.Request.Id', 'x-request_id']) {
      const res = await rawRequest(gw.url, '/public/page', [[spelling, 'forged-id']]);
      assert.equal(res.status, 200, spelling);
      const ids = foldedHeaderValues(upstream.last().rawHeaders, 'x-request-id');
      assert.equal(ids.length, 1, `${spelling}: the upstream received ${JSON.stringify(ids)}`);
      assert.notEqual(ids[0], 'forged-id', spelling);
    }
  });

  test('Expect is not forwarded: the gateway answered 100 Continue itself and sends the body at once', async () => {
    const host = new URL(gw.url).host;
    const answer = await rawExchange(gw.url, `POST /public/upload HTTP/1.1\r\nHost: ${host}\r\nExpect: 100-continue\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`);
    assert.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    assert.equal(upstream.last().body, 'hello');
    assert.deepEqual(rawHeaderValues(upstream.last(), 'expect'), []);
  });

  test('the signed assertion is never accepted as a credential', async () => {
    await rawRequest(gw.url, '/x', [['Authorization', basic]]);
    const assertion = rawHeaderValues(upstream.last(), 'x-auth-assertion')[0] as string;
    assert.ok(assertion && assertion.split('.').length === 3);
    const count = upstream.received.length;
    const res = await rawRequest(gw.url, '/x', [['Authorization', `Bearer ${assertion}`]]);
    assert.equal(res.status, 401);
    assert.equal(upstream.received.length, count, 'nothing was forwarded');
  });
});

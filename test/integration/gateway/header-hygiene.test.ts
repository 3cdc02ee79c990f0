import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
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
        access: { default_policy: 'deny', rules: [{ name: 'pub', paths: ['/public/**'], policy: 'public' }, { name: 'all', paths: ['/**'], policy: 'authenticated' }] },
        // Its hand-off cookie carries an external JWT, a credential like the session cookie.
        jwt_issuers: [{ name: 'portal', issuer: 'https://portal.example', audience: 'portcullis', algorithms: ['HS256'], secret: 'a-shared-secret-of-at-least-32-bytes!!', handoff_cookie: 'portal_handoff' }],
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
    for (const name of ['x_auth_user', 'x.auth.roles', 'remote-user', 'x-real-ip', 'x-original-url', 'x-rewrite-url', 'forwarded', 'x_forwarded_host', 'true-client-ip', 'x-client-ip', 'client_ip', 'x-cluster-client-ip', 'x-forwarded', 'x-host', 'x-auth-request-groups', 'x-auth-request-preferred-username']) {
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
    const res = await rawRequest(gw.url, '/pass/x', [['Authorization', basic], ['Cookie', 'portal_handoff=eyJhbGciOiJIUzI1NiJ9.e30.sig; theme=dark']]);
    assert.equal(res.status, 200);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'authorization'), [basic]);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'cookie'), ['portal_handoff=eyJhbGciOiJIUzI1NiJ9.e30.sig; theme=dark']);
    await rawRequest(gw.url, '/x', [['Authorization', basic]]);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'authorization'), []);
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

import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { encodeHeaderValue, HeaderPolicy } from '../../../src/http/headers.js';
import { readCookie } from '../../../src/http/cookies.js';
import { clientAddress } from '../../../src/http/client-ip.js';
import { trustedProxyList } from '../../../src/config/validate.js';

const plain = {
  passCredentials: false,
  upgrade: false,
  host: 'upstream:8080',
  identity: undefined,
  assertion: undefined,
  forwardedFor: '203.0.113.9',
  forwardedProto: 'http',
  forwardedHost: undefined,
  requestId: 'rid-1',
};
const added = { host: 'upstream:8080', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http', 'x-request-id': 'rid-1' };

const names = { user: 'X-Auth-User', roles: 'X-Auth-Roles', projects: 'X-Auth-Projects', name: 'X-Auth-Name', email: 'X-Auth-Email', source: 'X-Auth-Source', assertion: 'X-Auth-Assertion' };

test('strips identity headers in every spelling, forwarding and rewrite headers', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = {
    'x-auth-user': 'admin',
    x_auth_user: 'admin',
    'x.auth.roles': 'admin',
    'x-forwarded-for': '1.2.3.4',
    'x-forwarded-prefix': '/admin',
    forwarded: 'for=1.2.3.4',
    'x-real-ip': '1.2.3.4',
    'remote-user': 'admin',
    'x-original-url': '/admin',
    'x-rewrite-url': '/admin',
    'x-http-method-override': 'DELETE',
    'x-request-id': 'spoofed',
    host: 'client.example',
    accept: 'application/json',
  };
  assert.deepEqual(policy.forwardHeaders(headers, plain), { ...added, accept: 'application/json' });
});

test("drops every spelling of the client's X-Request-Id, so the upstream sees only the gateway's own", () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  for (const spelling of ['x-request-id', 'x_request_id', 'x.request.id', 'x-request_id']) {
    assert.deepEqual(policy.forwardHeaders({ [spelling]: 'forged-id', accept: '*/*' }, plain), { ...added, accept: '*/*' }, spelling);
  }
});

test('drops Expect: the gateway answered 100 Continue itself and the body is already on its way', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  assert.deepEqual(policy.forwardHeaders({ expect: '100-continue', 'content-length': '5' }, plain), { ...added, 'content-length': '5' });
});

test('removes the headers the client Connection header nominates and gateway credentials', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = {
    connection: 'keep-alive, X-Secret-Hop, x_other',
    'x-secret-hop': 'v',
    'x-other': 'v',
    authorization: 'Basic abc',
    'x-authentication': 'pcl_x',
    cookie: 'a=1; portcullis_session=abc; b=2',
    accept: '*/*',
  };
  assert.deepEqual(policy.forwardHeaders(headers, plain), { ...added, cookie: 'a=1; b=2', accept: '*/*' });
  assert.deepEqual(policy.forwardHeaders({ connection: 'keep-alive, cookie', cookie: 'a=1' }, plain), added);
  assert.deepEqual(policy.forwardHeaders({ cookie: 'portcullis_session=abc' }, plain), added);
});

test('keeps credentials for a route with pass_credentials', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = { authorization: 'Basic abc', cookie: 'portcullis_session=abc' };
  assert.deepEqual(policy.forwardHeaders(headers, { ...plain, passCredentials: true }), { ...added, authorization: 'Basic abc', cookie: 'portcullis_session=abc' });
});

test('keeps the framing of a body without Content-Length and the Upgrade pair of a WebSocket handshake', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  assert.deepEqual(policy.forwardHeaders({ 'transfer-encoding': 'chunked', te: 'trailers', trailer: 'x' }, plain), { ...added, 'transfer-encoding': 'chunked' });
  const handshake = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-key': 'k' };
  assert.deepEqual(policy.forwardHeaders(handshake, plain), { ...added, 'sec-websocket-key': 'k' });
  assert.deepEqual(policy.forwardHeaders(handshake, { ...plain, upgrade: true }), { ...added, 'sec-websocket-key': 'k', upgrade: 'websocket', connection: 'Upgrade' });
});

test('sets Host, the forwarding headers and the identity headers once each', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const identity = { username: 'alice', roles: ['user'], projects: [], name: 'Alice', email: 'a@x', source: 'local' };
  const out = policy.forwardHeaders(
    { host: 'gw.example', 'x-auth-user': 'mallory', 'x-forwarded-host': 'evil' },
    { ...plain, host: undefined, identity, assertion: 'jwt', forwardedHost: 'gw.example', forwardedProto: 'https' },
  );
  assert.deepEqual(out, {
    'x-auth-user': 'alice',
    'x-auth-roles': 'user',
    'x-auth-projects': '',
    'x-auth-name': 'Alice',
    'x-auth-email': 'a@x',
    'x-auth-source': 'local',
    'x-auth-assertion': 'jwt',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'gw.example',
    'x-request-id': 'rid-1',
  });
});

test('sets identity headers once and percent-encodes what is not printable ASCII', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = {};
  policy.setIdentity(headers, { username: 'alice', roles: ['user', 'manager'], projects: ['alpha'], name: 'Zoë Ünal', email: 'a@x', source: 'ldap' }, 'jwt');
  assert.equal(headers['x-auth-user'], 'alice');
  assert.equal(headers['x-auth-roles'], 'user,manager');
  assert.equal(headers['x-auth-name'], 'Zo%C3%AB %C3%9Cnal');
  assert.equal(headers['x-auth-assertion'], 'jwt');
  assert.equal(encodeHeaderValue('a\r\nX-Evil: 1'), 'a%0D%0AX-Evil: 1');
});

test('a comma inside a role or project name is sent as %2C, so a splitting backend sees one name', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = {};
  policy.setIdentity(headers, { username: 'eve', roles: ['user,admin', 'x, api', 'plain'], projects: ['a,b', '50%'], name: '', email: '', source: 'jwt:lab' });
  assert.equal(headers['x-auth-roles'], 'user%2Cadmin,x%2C api,plain');
  assert.equal(headers['x-auth-projects'], 'a%2Cb,50%25');
  const split = String(headers['x-auth-roles'])
    .split(',')
    .map((r) => decodeURIComponent(r.trim()));
  assert.deepEqual(split, ['user,admin', 'x, api', 'plain']);
  assert.ok(!split.includes('admin') && !split.includes('api'));
});

test('a cookie sent twice is ambiguous and read as absent', () => {
  assert.deepEqual(readCookie('portcullis_session=a; portcullis_session=b', 'portcullis_session'), { value: undefined, ambiguous: true });
  assert.deepEqual(readCookie('x=1; portcullis_session=a', 'portcullis_session'), { value: 'a', ambiguous: false });
});

test('believes X-Forwarded-For only from trusted proxies, walking from the right', () => {
  const trusted = trustedProxyList(['10.0.0.0/8']);
  assert.equal(clientAddress('203.0.113.9', '1.1.1.1', trusted), '203.0.113.9');
  assert.equal(clientAddress('10.0.0.5', '1.1.1.1, 198.51.100.7', trusted), '198.51.100.7');
  assert.equal(clientAddress('10.0.0.5', '198.51.100.7, 10.1.1.1', trusted), '198.51.100.7');
  assert.equal(clientAddress('10.0.0.5', 'garbage', trusted), '10.0.0.5');
});

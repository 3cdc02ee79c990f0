import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { encodeHeaderValue, HeaderPolicy } from '../../../src/http/headers.js';
import { readCookie } from '../../../src/http/cookies.js';
import { clientAddress } from '../../../src/http/client-ip.js';
import { trustedProxyList } from '../../../src/config/validate.js';

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
    accept: 'application/json',
  };
  policy.strip(headers, { passCredentials: false, upgrade: false });
  assert.deepEqual(Object.keys(headers), ['accept']);
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
  policy.strip(headers, { passCredentials: false, upgrade: false });
  assert.deepEqual(headers, { cookie: 'a=1; b=2', accept: '*/*' });
});

test('keeps credentials for a route with pass_credentials', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headers: IncomingHttpHeaders = { authorization: 'Basic abc', cookie: 'portcullis_session=abc' };
  policy.strip(headers, { passCredentials: true, upgrade: false });
  assert.deepEqual(headers, { authorization: 'Basic abc', cookie: 'portcullis_session=abc' });
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

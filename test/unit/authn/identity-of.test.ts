import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityOf } from '../../../src/authn/identity-of.js';
import { HeaderPolicy } from '../../../src/http/headers.js';
import type { UserRecord } from '../../../src/store/types.js';

const names = { user: 'X-Auth-User', roles: 'X-Auth-Roles', projects: 'X-Auth-Projects', name: 'X-Auth-Name', email: 'X-Auth-Email', source: 'X-Auth-Source', assertion: 'X-Auth-Assertion' };

function record(fields: Partial<UserRecord>): UserRecord {
  return { username: 'ann', name: 'Ann Ö', email: 'ann@example.org', roles: ['user'], projects: ['alpha'], source: 'local', disabled: false, must_change_password: false, ...fields } as UserRecord;
}

test('one frozen identity per user record and method; a changed record gives a new one', () => {
  const first = record({});
  const session = identityOf(first, 'session');
  assert.equal(identityOf(first, 'session'), session, 'the same record presents the same identity');
  assert.ok(Object.isFrozen(session));
  assert.notEqual(identityOf(first, 'basic'), session);
  assert.equal(identityOf(first, 'basic').method, 'basic');
  const changed = record({ roles: ['user', 'manager'] });
  assert.deepEqual(identityOf(changed, 'session').roles, ['user', 'manager']);
  const claimed = { roles: ['user', 'admin'], projects: ['beta'] };
  const overridden = identityOf(first, 'bearer', claimed);
  assert.notEqual(overridden, identityOf(first, 'bearer'));
  assert.deepEqual(overridden.projects, ['beta']);
  assert.equal(identityOf(first, 'bearer', claimed), overridden, 'the same token (its cached claims object) presents the same identity');
  assert.ok(Object.isFrozen(overridden));
  assert.notEqual(identityOf(first, 'bearer', { roles: ['user', 'admin'], projects: ['beta'] }), overridden, 'per-token roles are never shared with another token');
  assert.notEqual(identityOf(first, 'jwt_handoff', claimed), overridden, 'nor with another method');
  const renamed = record({ name: 'Ann B' });
  assert.equal(identityOf(renamed, 'bearer', claimed).name, 'Ann B', 'a changed record gives a new identity for the same claims');
  assert.deepEqual(identityOf(renamed, 'bearer', claimed).roles, ['user', 'admin']);
  assert.deepEqual(identityOf(record({ source: 'jwt:partner', roles: ['user', 'admin', 'api'] }), 'bearer').roles, ['user'], 'no JWT user holds admin or api');
  assert.deepEqual(identityOf(record({ roles: ['admin'] }), 'anonymous').roles, []);
});

test('identity headers follow the identity presented, whether remembered or not', () => {
  const policy = new HeaderPolicy(names, 'portcullis_session');
  const headersOf = (identity: Parameters<HeaderPolicy['setIdentity']>[1], assertion?: string): Record<string, unknown> => {
    const headers = {};
    policy.setIdentity(headers, identity, assertion);
    return headers;
  };
  const first = identityOf(record({}), 'session');
  assert.deepEqual(headersOf(first, 'a.b.c'), {
    'x-auth-user': 'ann',
    'x-auth-roles': 'user',
    'x-auth-projects': 'alpha',
    'x-auth-name': 'Ann %C3%96',
    'x-auth-email': 'ann@example.org',
    'x-auth-source': 'local',
    'x-auth-assertion': 'a.b.c',
  });
  assert.equal(headersOf(first)['x-auth-roles'], 'user', 'remembered');
  assert.equal(headersOf(first)['x-auth-assertion'], undefined, 'no assertion, no header');
  assert.equal(headersOf(identityOf(record({ roles: ['user', 'manager'] }), 'session'))['x-auth-roles'], 'user,manager');
  const fresh = identityOf(record({}), 'bearer', { roles: ['support'] });
  assert.equal(headersOf(fresh)['x-auth-roles'], 'support');
  const renamed = new HeaderPolicy({ ...names, email: '', roles: 'X-Portal-Roles' }, 'portcullis_session');
  const headers = {};
  renamed.setIdentity(headers, first);
  assert.deepEqual(Object.keys(headers).sort(), ['x-auth-name', 'x-auth-projects', 'x-auth-source', 'x-auth-user', 'x-portal-roles']);
});

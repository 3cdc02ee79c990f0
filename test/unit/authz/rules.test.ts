import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessConfigProblems, compileAccess, decide, type Caller } from '../../../src/authz/rules.js';
import { grantsAllow, validateGrant } from '../../../src/authz/grants.js';
import { compilePathPattern } from '../../../src/authz/matcher.js';
import { accessSchema } from '../../../src/config/schema.js';

const access = compileAccess(
  accessSchema.parse({
    default_policy: 'deny',
    rules: [
      { name: 'badges', paths: ['/badges/**'], methods: ['GET'], policy: 'public' },
      { name: 'own-data', paths: ['/users/{self}/**'], policy: 'authenticated' },
      { name: 'project-data', paths: ['/projects/{project}/**'], roles: ['user', 'manager'] },
      { name: 'submit', paths: ['re:^/api/v[0-9]+/runs$'], methods: ['POST'], roles: ['admin', 'api'], quota: { requests: 100, per: '1h' } },
      { name: 'machines', paths: ['/machines/**'], policy: 'grant' },
      { name: 'blocked', paths: ['/internal/**'], policy: 'deny' },
      { name: 'csv', paths: ['/files/*.csv'], hosts: ['*.example.org'], roles: ['user'] },
      { name: 'reads', paths: ['/**'], methods: ['GET'], roles: ['user', 'readonly'] },
    ],
  }),
);

const user = (username: string, roles: string[], projects: string[] = [], grants: Caller extends infer C ? (C extends { grants: infer G } ? G : never) : never = []): Caller => ({
  username,
  roles,
  projects,
  grants,
});
const req = (method: string, path: string, host = 'gw'): { method: string; path: string; host: string } => ({ method, path, host });
const alice = user('alice', ['user'], ['alpha']);

test('public rules allow anyone; HEAD matches a GET rule; other methods do not', () => {
  assert.deepEqual(decide(access, req('GET', '/badges/a.svg'), undefined), { effect: 'allow', rule: 'badges', identityRequired: false });
  assert.equal(decide(access, req('HEAD', '/badges'), undefined).effect, 'allow');
  assert.equal(decide(access, req('POST', '/badges/a'), undefined).effect, 'deny');
});

test('{self} matches only the caller (case-insensitively) and never the anonymous', () => {
  assert.equal(decide(access, req('PUT', '/users/alice/x'), alice).rule, 'own-data');
  assert.equal(decide(access, req('PUT', '/users/Alice/x'), alice).rule, 'own-data');
  assert.deepEqual(decide(access, req('PUT', '/users/bob/x'), alice), { effect: 'deny', rule: 'default', reason: 'default_deny' });
  assert.equal(decide(access, req('PUT', '/users/x/x'), undefined).rule, 'default');
});

test('{project} matches only the caller’s projects; the role list is then checked', () => {
  assert.equal(decide(access, req('PUT', '/projects/alpha/j'), alice).effect, 'allow');
  assert.equal(decide(access, req('PUT', '/projects/beta/j'), alice).rule, 'default');
  assert.deepEqual(decide(access, req('PUT', '/projects/alpha/j'), user('r', ['readonly'], ['alpha'])), { effect: 'deny', rule: 'project-data', reason: 'missing_role' });
});

test('re: rules are anchored by their author, and carry their quota', () => {
  const d = decide(access, req('POST', '/api/v2/runs'), user('bot', ['api']));
  assert.deepEqual(d, { effect: 'allow', rule: 'submit', identityRequired: true, quota: { requests: 100, per: 3_600_000 } });
  assert.equal(decide(access, req('POST', '/api/v2/runs/x'), user('bot', ['api'])).rule, 'default');
  assert.equal(decide(access, req('POST', '/api/v2/runs'), undefined).effect, 'unauthenticated');
});

test('grant rules need a stored grant for path and method', () => {
  const granted = user('m', ['user'], [], [{ paths: ['/machines/m1/**'], methods: ['GET'] }]);
  assert.equal(decide(access, req('GET', '/machines/m1/x'), granted).effect, 'allow');
  assert.deepEqual(decide(access, req('POST', '/machines/m1/x'), granted), { effect: 'deny', rule: 'machines', reason: 'no_grant' });
  assert.equal(decide(access, req('GET', '/machines/m2/x'), granted).effect, 'deny');
  const anyMethod = user('m', ['user'], [], [{ paths: ['/machines/**'], methods: [] }]);
  assert.equal(decide(access, req('DELETE', '/machines/m9'), anyMethod).effect, 'allow');
});

test('admin passes role and grant checks and placeholders, but an explicit deny still denies', () => {
  const admin = user('root', ['admin']);
  assert.equal(decide(access, req('PUT', '/users/alice/x'), admin).rule, 'own-data');
  assert.equal(decide(access, req('PUT', '/projects/beta/x'), admin).effect, 'allow');
  assert.equal(decide(access, req('DELETE', '/machines/m1'), admin).effect, 'allow');
  assert.deepEqual(decide(access, req('GET', '/internal/x'), admin), { effect: 'deny', rule: 'blocked', reason: 'rule_deny' });
});

test('support reaches exactly the rules that list it: no role list, grant or placeholder for GET either', () => {
  const support = user('s', ['support']);
  // {project} matches only one of the caller's projects: /projects/beta falls through to reads.
  assert.deepEqual(decide(access, req('GET', '/projects/beta/x'), support), { effect: 'deny', rule: 'reads', reason: 'missing_role' });
  assert.deepEqual(decide(access, req('GET', '/users/alice/x'), support), { effect: 'deny', rule: 'reads', reason: 'missing_role' });
  assert.deepEqual(decide(access, req('GET', '/machines/m1'), support), { effect: 'deny', rule: 'machines', reason: 'no_grant' });
  assert.deepEqual(decide(access, req('HEAD', '/admin/x'), support), { effect: 'deny', rule: 'reads', reason: 'missing_role' });
  const listed = compileAccess(accessSchema.parse({ rules: [{ name: 'jobs', paths: ['/jobs/**'], methods: ['GET'], roles: ['support'] }] }));
  assert.equal(decide(listed, req('GET', '/jobs/1'), support).effect, 'allow');
  assert.equal(decide(listed, req('PUT', '/jobs/1'), support).effect, 'deny');
});

test('role names compare exactly: Admin or superadmin are not admin', () => {
  assert.equal(decide(access, req('GET', '/internal/x'), user('x', ['Admin'])).rule, 'blocked');
  assert.equal(decide(access, req('PUT', '/projects/beta/x'), user('x', ['superadmin', 'user,admin'])).rule, 'default');
});

test('hosts with a one-label wildcard and partial-segment globs', () => {
  assert.equal(decide(access, req('PUT', '/files/a.csv', 'data.example.org'), alice).rule, 'csv');
  assert.equal(decide(access, req('PUT', '/files/a.csv', 'a.b.example.org'), alice).rule, 'default');
  assert.equal(decide(access, req('PUT', '/files/a.csv', 'example.org'), alice).rule, 'default');
  assert.equal(decide(access, req('PUT', '/files/dir/a.csv', 'data.example.org'), alice).rule, 'default');
});

test('default policy authenticated asks for an identity', () => {
  const open = compileAccess(accessSchema.parse({ default_policy: 'authenticated' }));
  assert.equal(decide(open, req('GET', '/x'), undefined).effect, 'unauthenticated');
  assert.equal(decide(open, req('GET', '/x'), alice).effect, 'allow');
});

test('glob semantics: * is one segment, ** any number including none', () => {
  const ctx = { projects: [] };
  assert.equal(compilePathPattern('/a/*').matches('/a/b', ctx), true);
  assert.equal(compilePathPattern('/a/*').matches('/a/b/c', ctx), false);
  assert.equal(compilePathPattern('/a/*').matches('/a', ctx), false);
  assert.equal(compilePathPattern('/a/**').matches('/a', ctx), true);
  assert.equal(compilePathPattern('/a/**/z').matches('/a/z', ctx), true);
  assert.equal(compilePathPattern('/a/**/z').matches('/a/b/c/z', ctx), true);
  assert.equal(compilePathPattern('/a/**/z').matches('/a/b/c/y', ctx), false);
  assert.equal(compilePathPattern('/exact').matches('/exact/', ctx), true);
  assert.equal(compilePathPattern('/exact').matches('/exactly', ctx), false);
});

test('invalid patterns are config problems with their key path', () => {
  const problems = accessConfigProblems(accessSchema.parse({ rules: [{ name: 'x', paths: ['/ok', 're:(unclosed', 'relative', '/a**b', '/{user}'] }] }));
  assert.deepEqual(
    problems.map((p) => p.path),
    ['access.rules[0].paths[1]', 'access.rules[0].paths[2]', 'access.rules[0].paths[3]', 'access.rules[0].paths[4]'],
  );
});

test('hosts entries are compared in the form of the request host: case, trailing dot and IPv6 spelling do not matter', () => {
  const scoped = compileAccess(accessSchema.parse({ rules: [{ name: 'internal', hosts: ['Admin.Example.org.', '[0:0:0:0:0:0:0:1]', '*.Internal.Example.org.'], paths: ['/**'], policy: 'deny' }] }));
  for (const host of ['admin.example.org', '[::1]', 'db.internal.example.org']) assert.equal(decide(scoped, req('GET', '/x', host), alice).rule, 'internal', host);
  assert.equal(decide(scoped, req('GET', '/x', 'a.db.internal.example.org'), alice).rule, 'default');
});

test('hosts entries with a port, or that are no host name, are config problems with their key path', () => {
  const rules = [
    { name: 'a', hosts: ['admin.example.org', 'admin.example.org:8443'], paths: ['/**'], policy: 'deny' },
    { name: 'b', hosts: ['[::1]:8443', '::1', 'a..b', '*.example.org:443'], paths: ['/**'], policy: 'deny' },
  ];
  const problems = accessConfigProblems(accessSchema.parse({ rules }));
  assert.deepEqual(
    problems.map((p) => p.path),
    ['access.rules[0].hosts[1]', 'access.rules[1].hosts[0]', 'access.rules[1].hosts[1]', 'access.rules[1].hosts[2]', 'access.rules[1].hosts[3]'],
  );
  assert.match(problems[0]?.message ?? '', /without their port.*write admin\.example\.org/);
  assert.match(problems[4]?.message ?? '', /write \*\.example\.org/);
  assert.throws(() => compileAccess(accessSchema.parse({ rules })), /access\.rules\[0\] \(a\): hosts entry "admin\.example\.org:8443"/);
});

test('grant validation refuses unknown keys, bad patterns and bad methods', () => {
  assert.deepEqual(validateGrant({ paths: ['/m/**'], methods: ['get'] }), { ok: true, grant: { paths: ['/m/**'], methods: ['GET'] } });
  assert.equal(validateGrant({ paths: [], methods: [] }).ok, false);
  assert.equal(validateGrant({ paths: ['re:('], methods: [] }).ok, false);
  assert.equal(validateGrant({ paths: ['/x'], methods: ['G E T'] }).ok, false);
  assert.equal(validateGrant({ paths: ['/x'], admin: true }).ok, false);
  assert.equal(grantsAllow([], 'GET', '/x', { projects: [] }), false);
});

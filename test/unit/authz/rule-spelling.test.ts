import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accessConfigProblems, compileAccess, decide } from '../../../src/authz/rules.js';
import { validateGrant } from '../../../src/authz/grants.js';
import { compilePathPattern } from '../../../src/authz/matcher.js';
import { normaliseTarget } from '../../../src/http/normalise.js';
import { accessSchema } from '../../../src/config/schema.js';

const problemsOf = (rules: unknown[]): Array<{ path: string; message: string }> => accessConfigProblems(accessSchema.parse({ rules }));
const normalised = (target: string): string => {
  const result = normaliseTarget(target, 'gw');
  assert.ok(result.ok, target);
  return result.path;
};

test('a rule on a colon, dollar or at-sign path also decides the request that percent-encodes it', () => {
  const access = compileAccess(
    accessSchema.parse({
      default_policy: 'authenticated',
      rules: [{ name: 'purge', paths: ['/api/items:purge', '/odata/$metadata', '/profiles/@root/**'], roles: ['admin'] }],
    }),
  );
  const carol = { username: 'carol', roles: ['user'], projects: [], grants: [] };
  for (const target of ['/api/items:purge', '/api/items%3Apurge', '/api/items%3apurge', '/odata/%24metadata', '/profiles/%40root/keys']) {
    assert.deepEqual(decide(access, { method: 'POST', host: 'gw', path: normalised(target) }, carol), { effect: 'deny', rule: 'purge', reason: 'missing_role' }, target);
  }
});

test('{self} and {project} compare the decoded segment, so an encoded colon is no way around them', () => {
  const ctx = { username: 'alice', projects: ['alpha:beta'] };
  assert.equal(compilePathPattern('/users/{self}/**').matches(normalised('/users/%61lice/x'), ctx), true);
  assert.equal(compilePathPattern('/users/{self}/**').matches(normalised('/users/alice%3A/x'), ctx), false);
  assert.equal(compilePathPattern('/projects/{project}/**').matches(normalised('/projects/alpha%3Abeta/x'), ctx), true);
  assert.equal(compilePathPattern('/projects/{project}/**').matches(normalised('/projects/alpha%3Abeta/%2e%2e/gamma/x'), ctx), false);
});

test('a rule path no normalised request can hold is a config problem that shows the spelling that works', () => {
  const problems = problemsOf([
    { name: 'closed', paths: ['/café/**', '/annual report/**', '/api/items%3Apurge', '/files/%c3%a9', '/ok/%C3%A9/**'], policy: 'deny' },
    { name: 'odd', paths: ['/50%', '/a"b', '/x/%2a'], policy: 'deny' },
  ]);
  assert.deepEqual(
    problems.map((p) => `${p.path}: ${p.message}`),
    [
      'access.rules[0].paths[0]: "/café/**" never matches a request: write /caf%C3%A9/** (percent-encoded UTF-8, as requests carry it)',
      'access.rules[0].paths[1]: "/annual report/**" never matches a request: write /annual%20report/** (%20 for a space)',
      'access.rules[0].paths[2]: "/api/items%3Apurge" never matches a request: write /api/items:purge (: not %3A, as requests are decoded)',
      'access.rules[0].paths[3]: "/files/%c3%a9" never matches a request: write /files/%C3%A9 (escapes in upper-case hex)',
      'access.rules[1].paths[0]: "/50%" never matches a request: write /50%25 (%25 for a literal %)',
      'access.rules[1].paths[1]: "/a"b" never matches a request: write /a%22b (%22 for ")',
      'access.rules[1].paths[2]: "/x/%2a" never matches a request: requests carry %2A as *, which a glob reads as any characters; use re: for a literal *',
    ],
  );
});

test('a rule path only refused requests could match is a config problem that says so', () => {
  const problems = problemsOf([{ name: 'never', paths: ['/a%2Fb', '/a;v=1', '/a\\b', '/a%00', '/a/../b', '/a/%2E%2E/b', '/search?q=1', '/page#top'], policy: 'deny' }]);
  assert.deepEqual(
    problems.map((p) => p.message.replace(/^"[^"]*" never matches a request: /, '')),
    [
      'requests with an encoded / are refused with 400',
      'requests with ; (path parameters) are refused with 400',
      'requests with \\ are refused with 400',
      'requests with control characters are refused with 400',
      'dot segments are removed from requests before matching',
      'dot segments are removed from requests before matching',
      'the query is not part of the matched path',
      'a fragment never reaches the gateway',
    ],
  );
  assert.deepEqual(
    problems.map((p) => p.path),
    [0, 1, 2, 3, 4, 5, 6, 7].map((j) => `access.rules[0].paths[${j}]`),
  );
});

test('the spelling the problem suggests is the one the normaliser produces, and then matches', () => {
  for (const [rule, target] of [
    ['/caf%C3%A9/**', '/caf%c3%a9/menu'],
    ['/annual%20report/**', '/annual%20report/2026'],
    ['/a%22b', '/a"b'],
    ['/50%25', '/50%25'],
  ] as const) {
    assert.equal(compilePathPattern(rule).matches(normalised(target), { projects: [] }), true, `${rule} ~ ${target}`);
  }
});

test('re: rules are left as written: they match the normalised path', () => {
  assert.deepEqual(problemsOf([{ name: 're', paths: ['re:^/caf%C3%A9/', 're:^/café/'] }]), []);
  assert.equal(compilePathPattern('re:^/api/items:purge$').matches(normalised('/api/items%3Apurge'), { projects: [] }), true);
});

test('a stored grant is refused with the same message when its path can never match', () => {
  const result = validateGrant({ paths: ['/machines/m%3A1/**'], methods: [] });
  assert.equal(result.ok, false);
  assert.match((result as { fields: Record<string, string> }).fields.paths ?? '', /never matches a request: write \/machines\/m:1\/\*\* \(: not %3A/);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normaliseTarget } from '../../../src/http/normalise.js';

const ok = (target: string, host = 'gw.example'): string => {
  const result = normaliseTarget(target, host);
  assert.ok(result.ok, `${target} refused: ${!result.ok ? result.reason : ''}`);
  return result.path + (result.query ? `?${result.query}` : '');
};
const refused = (target: string, host = 'gw.example'): string => {
  const result = normaliseTarget(target, host);
  assert.ok(!result.ok, `${target} accepted as ${result.ok ? result.path : ''}`);
  return result.reason;
};

test('keeps plain paths and queries untouched', () => {
  assert.equal(ok('/jobs/42?view=full&x=%2F'), '/jobs/42?view=full&x=%2F');
  assert.equal(ok('/'), '/');
  assert.equal(ok('/badge.svg'), '/badge.svg');
  assert.equal(ok('/a/b/'), '/a/b/');
});

test('removes dot segments, also when encoded, and never climbs above the root', () => {
  assert.equal(ok('/badges/../admin'), '/admin');
  assert.equal(ok('/badges/%2e%2e/admin'), '/admin');
  assert.equal(ok('/badges/.%2E/admin'), '/admin');
  assert.equal(ok('/a/./b'), '/a/b');
  assert.equal(ok('/../../etc/passwd'), '/etc/passwd');
  assert.equal(ok('/a/b/..'), '/a/');
  assert.equal(ok('/a..b/c'), '/a..b/c');
});

test('collapses repeated slashes', () => {
  assert.equal(ok('//admin'), '/admin');
  assert.equal(ok('/a///b//'), '/a/b/');
});

test('decodes unreserved escapes and upper-cases the others', () => {
  assert.equal(ok('/%7Euser/%41%62c'), '/~user/Abc');
  assert.equal(ok('/a%20b/%c3%a9'), '/a%20b/%C3%A9');
});

test('decodes escapes of the sub-delims, colon and at-sign, in either case, so a rule sees the one spelling a backend reads', () => {
  assert.equal(ok('/api/items%3Apurge'), '/api/items:purge');
  assert.equal(ok('/api/items%3apurge'), '/api/items:purge');
  assert.equal(ok('/odata/%24metadata'), '/odata/$metadata');
  assert.equal(ok('/profiles/%40root/keys'), '/profiles/@root/keys');
  assert.equal(ok('/%21%24%26%27%28%29%2a%2B%2c%3D%3A%40'), "/!$&'()*+,=:@");
  assert.equal(ok('/users/alice%3Aadmin?x=%3A'), '/users/alice:admin?x=%3A', 'the query is left as sent');
});

test('keeps %, ?, #, space and non-ASCII encoded, and encodes the other characters a path segment may not hold', () => {
  assert.equal(ok('/a%25b/%3f%23%20'), '/a%25b/%3F%23%20');
  assert.equal(ok('/%c3%A9'), '/%C3%A9');
  assert.equal(ok('/a"b|c[1]{x}^`<>'), '/a%22b%7Cc%5B1%5D%7Bx%7D%5E%60%3C%3E');
  assert.equal(ok('/a%22b'), ok('/a"b'));
});

test('decodes once, before removing dot segments: %2e is a dot, %252e stays an escaped %', () => {
  assert.equal(ok('/a/%2e%2E/b'), '/b');
  assert.equal(ok('/a/%2e/b'), '/a/b');
  assert.equal(ok('/a/%252e%252e/b'), '/a/%252e%252e/b');
  assert.equal(ok('/a/%25%32%65%25%32%65/b'), '/a/%252e%252e/b');
  assert.equal(ok('/a%3A/%2e%2e/b%40'), '/b@');
  assert.equal(ok('/users/%2e%2e%3A/x'), '/users/..:/x', 'a segment that decodes to more than dots is no dot segment');
});

test('a decoded escape is never one the checks refuse: ; / \\ and controls stay refused in any case', () => {
  for (const [target, reason] of [
    ['/a%3Bb', 'path_parameter'],
    ['/a%3bb', 'path_parameter'],
    ['/a%2fb', 'encoded_slash'],
    ['/a%5Cb', 'backslash'],
    ['/a%09b', 'control_character'],
    ['/a%7Fb', 'control_character'],
  ] as const) {
    assert.equal(refused(target), reason, target);
  }
});

test('refuses encoded slash, backslash, NUL, control characters and path parameters', () => {
  assert.equal(refused('/a%2fb'), 'encoded_slash');
  assert.equal(refused('/a%2Fb'), 'encoded_slash');
  assert.equal(refused('/a%5cb'), 'backslash');
  assert.equal(refused('/a\\b'), 'backslash');
  assert.equal(refused('/a%00'), 'control_character');
  assert.equal(refused('/a%0d%0aSet-Cookie:x'), 'control_character');
  assert.equal(refused('/a%7f'), 'control_character');
  assert.equal(refused('/a;jsessionid=1'), 'path_parameter');
  assert.equal(refused('/a%3bb'), 'path_parameter');
  assert.equal(refused('/a%zz'), 'bad_percent_encoding');
  assert.equal(refused('/a%4'), 'bad_percent_encoding');
  assert.equal(refused('/a#frag'), 'fragment');
  assert.equal(refused('/é'), 'non_ascii');
});

test('accepts absolute-form only for the Host it is sent to', () => {
  assert.equal(ok('http://gw.example/a?b=1'), '/a?b=1');
  assert.equal(ok('http://GW.example'), '/');
  assert.equal(refused('http://evil.example/a'), 'absolute_form_host');
  assert.equal(refused('http://evil.example/a', undefined), 'absolute_form_host');
  assert.equal(refused('*'), 'bad_target');
  assert.equal(refused('gw.example:443'), 'bad_target');
});

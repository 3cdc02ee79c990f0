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

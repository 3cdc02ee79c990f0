import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bodyView, hasDuplicateTopLevelKey } from '../../../src/authz/body-view.js';
import { compileConditions, compileValuePattern, evaluateConditions, type ConditionInput } from '../../../src/authz/conditions.js';

const ctx = { username: 'ann', projects: ['alpha'], organisation: 'lab', attributes: { machines: ['7', '9'] } };
const input = (over: Partial<ConditionInput> = {}): ConditionInput => ({ query: '', rawHeaders: [], client: '127.0.0.1', body: undefined, ...over });

test('value patterns: literal, glob, and whole-value placeholders; admin matches every placeholder', () => {
  assert.equal(compileValuePattern('flat')('flat', ctx), true);
  assert.equal(compileValuePattern('flat')('Flat', ctx), false);
  assert.equal(compileValuePattern('ok-*')('ok-', ctx), true);
  assert.equal(compileValuePattern('ok-*')('nok-1', ctx), false);
  assert.equal(compileValuePattern('a.b')('aXb', ctx), false, 'regex characters are literal');
  assert.equal(compileValuePattern('{self}')('ANN', ctx), true);
  assert.equal(compileValuePattern('{project}')('beta', ctx), false);
  assert.equal(compileValuePattern('{org}')('lab', ctx), true);
  assert.equal(compileValuePattern('{org}')('', { ...ctx, organisation: '' }), false, '{org} is never ""');
  assert.equal(compileValuePattern('{attr.machines}')('9', ctx), true);
  assert.equal(compileValuePattern('{attr.machines}')('8', ctx), false);
  assert.equal(compileValuePattern('{attr.constructor}')('x', { projects: [], attributes: {} }), false, 'own keys only');
  assert.equal(compileValuePattern('{attr.other}')('anything', { projects: [], wildcardPlaceholders: true }), true);
  assert.throws(() => compileValuePattern('proj-{project}'), /whole value/);
});

test('query conditions decode once and refuse to judge differing repeats; headers likewise', () => {
  const conditions = compileConditions({ query: { db: '{project}' }, headers: { 'X-Kind': 'cli' } }) ?? [];
  const headers = ['X-Kind', 'cli'];
  assert.equal(evaluateConditions(conditions, input({ query: 'db=%61lpha', rawHeaders: headers }), ctx), 'match');
  assert.equal(evaluateConditions(conditions, input({ query: 'db=alpha&db=beta', rawHeaders: headers }), ctx), 'unevaluable');
  assert.equal(evaluateConditions(conditions, input({ query: 'db=alpha', rawHeaders: ['x-kind', 'cli', 'X-KIND', 'web'] }), ctx), 'unevaluable');
  assert.equal(evaluateConditions(conditions, input({ query: 'db=alpha' }), ctx), 'no_match');
  assert.equal(evaluateConditions(conditions, input({ query: 'db=%E0%A4%A', rawHeaders: headers }), ctx), 'unevaluable');
});

test('body conditions ask for the body first, then judge what the view holds', () => {
  const conditions = compileConditions({ body: { machine_id: '{attr.machines}' } }) ?? [];
  assert.equal(evaluateConditions(conditions, input(), ctx), 'needs_body');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('application/json', Buffer.from('{"machine_id":9}')) }), ctx), 'match');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('application/vnd.api+json; charset=utf-8', Buffer.from('{"machine_id":[7,9]}')) }), ctx), 'match');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('application/json', Buffer.from('{"machine_id":true}')) }), ctx), 'no_match');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('application/json', Buffer.from('"x"')) }), ctx), 'unevaluable');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('multipart/form-data', Buffer.from('x')) }), ctx), 'unevaluable');
  assert.equal(evaluateConditions(conditions, input({ body: { kind: 'none' } }), ctx), 'no_match');
  assert.equal(evaluateConditions(conditions, input({ body: bodyView('application/x-www-form-urlencoded', Buffer.from('machine_id=7&machine_id=8')) }), ctx), 'no_match', 'every repeat must match');
});

test('duplicate top-level keys are found as decoded, nested ones are not top-level', () => {
  assert.equal(hasDuplicateTopLevelKey('{"a":1,"a":2}'), true);
  assert.equal(hasDuplicateTopLevelKey('{"a":1,"\\u0061":2}'), true);
  assert.equal(hasDuplicateTopLevelKey('{"a":{"b":1,"b":2},"c":"a"}'), false);
  assert.equal(hasDuplicateTopLevelKey('{"a":["a","a"],"b":"\\"a\\""}'), false);
});

test('networks: IPv4 and IPv6 CIDRs; an address that is no IP cannot be judged', () => {
  const conditions = compileConditions({ networks: ['10.0.0.0/8', '2001:db8::/32'] }) ?? [];
  assert.equal(evaluateConditions(conditions, input({ client: '10.1.2.3' }), ctx), 'match');
  assert.equal(evaluateConditions(conditions, input({ client: '2001:db8::1' }), ctx), 'match');
  assert.equal(evaluateConditions(conditions, input({ client: '192.168.0.1' }), ctx), 'no_match');
  assert.equal(evaluateConditions(conditions, input({ client: '' }), ctx), 'unevaluable');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieName, removeCookie } from '../../../src/http/cookies.js';

test('the name of a cookie is the text before its first =, trimmed', () => {
  assert.equal(cookieName('sid=abc=def; Path=/; HttpOnly'), 'sid');
  assert.equal(cookieName(' sid =abc'), 'sid');
  assert.equal(cookieName('flag'), 'flag');
  assert.equal(cookieName('=value'), '');
});

test('removing a cookie keeps the others byte for byte', () => {
  assert.equal(removeCookie('a=1; sid=x;  b=2=3 ;sid', 'sid'), 'a=1; b=2=3');
});

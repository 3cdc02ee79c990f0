import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeRedirectTarget } from '../../../src/app/respond.js';

test('keeps same-origin relative redirect targets', () => {
  assert.equal(safeRedirectTarget('/jobs/42?view=full'), '/jobs/42?view=full');
  assert.equal(safeRedirectTarget('/'), '/');
});

test('turns every open-redirect trick into /', () => {
  for (const rd of [
    'https://evil.example',
    '//evil.example',
    '/\\evil.example',
    '\\\\evil.example',
    '/%2F%2Fevil.example',
    '/%5Cevil.example',
    'javascript:alert(1)',
    '/.//evil.example/',
    '/%2e%2e//evil.example/',
    '/x/..//evil.example',
    '/./%2F/evil.example',
    ' /x',
    '/x\r\nLocation: https://evil',
    'evil.example',
    '',
    undefined,
    42,
    ['/', '//evil'],
  ]) {
    assert.equal(safeRedirectTarget(rd), '/', String(rd));
  }
});

test('dot segments are resolved, and a same-origin result is kept', () => {
  assert.equal(safeRedirectTarget('/a/./b/../c?x=1'), '/a/c?x=1');
  assert.equal(safeRedirectTarget('/a/%2e%2e/b'), '/b');
});

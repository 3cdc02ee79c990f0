import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { comesFrom } from '../../../src/http/origin.js';

const PUBLIC = 'https://gw.example';
const LISTED = new Set(['https://gw.example', 'https://lab.example']);
const request = (headers: Record<string, string>): IncomingMessage => ({ headers: { host: 'gw.internal', ...headers }, socket: { encrypted: false } }) as unknown as IncomingMessage;

test('a hand-off from a listed origin passes whatever the fetch metadata says', () => {
  assert.equal(comesFrom(request({ origin: 'https://lab.example', 'sec-fetch-site': 'cross-site' }), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({ origin: 'HTTPS://GW.EXAMPLE', 'sec-fetch-site': 'same-site' }), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({ origin: 'https://lab.example', 'sec-fetch-site': '' }), PUBLIC, LISTED), true);
});

test('a cross-site hand-off without a listed origin is refused', () => {
  assert.equal(comesFrom(request({ 'sec-fetch-site': 'cross-site' }), PUBLIC, LISTED), false);
  assert.equal(comesFrom(request({ origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }), PUBLIC, LISTED), false);
  assert.equal(comesFrom(request({ origin: 'null', 'sec-fetch-site': 'cross-site' }), PUBLIC, LISTED), false);
  assert.equal(comesFrom(request({ origin: 'null' }), PUBLIC, LISTED), false);
});

test('same-origin fetch metadata passes, and a request with neither header comes from a non-browser client', () => {
  assert.equal(comesFrom(request({ 'sec-fetch-site': 'same-origin', origin: 'https://evil.example' }), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({ 'sec-fetch-site': 'none' }), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({}), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({ 'sec-fetch-site': '' }), PUBLIC, LISTED), true);
});

test("without fetch metadata the request's own origin passes; with an empty Sec-Fetch-Site only a listed one does", () => {
  assert.equal(comesFrom(request({ origin: 'http://gw.internal' }), PUBLIC, LISTED), true);
  assert.equal(comesFrom(request({ origin: 'http://gw.internal', 'sec-fetch-site': '' }), PUBLIC, LISTED), false);
});

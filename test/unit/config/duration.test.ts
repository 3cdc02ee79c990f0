import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from '../../../src/config/duration.js';

test('parses every documented duration unit into milliseconds', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('8h'), 28_800_000);
  assert.equal(parseDuration('7d'), 604_800_000);
});

test('rejects durations without a unit or with an unknown one', () => {
  assert.equal(parseDuration('30'), undefined);
  assert.equal(parseDuration('3w'), undefined);
  assert.equal(parseDuration('-5s'), undefined);
  assert.equal(parseDuration(''), undefined);
});

test('formats milliseconds as the largest exact unit', () => {
  assert.equal(formatDuration(900_000), '15m');
  assert.equal(formatDuration(1500), '1500ms');
});

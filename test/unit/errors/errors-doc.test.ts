import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, PortcullisError } from '../../../src/errors/errors.js';

test('docs/errors.md lists exactly the codes of the code list, with their status', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/^\| `([a-z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
  assert.deepEqual(Object.fromEntries(rows), { ...ERROR_CODES });
});

test('5xx errors never expose their message or fields to the client', () => {
  const err = new PortcullisError('internal_error', 'db password is hunter2', { fields: { x: 'y' } });
  assert.equal(err.expose, false);
  assert.deepEqual(err.toJSON(), { error: { code: 'internal_error', message: 'Internal error' } });
  const client = new PortcullisError('validation_failed', 'Invalid user', { fields: { username: 'bad' } });
  assert.deepEqual(client.toJSON(), { error: { code: 'validation_failed', message: 'Invalid user', fields: { username: 'bad' } } });
});

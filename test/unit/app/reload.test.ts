import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applicable, changedKeys } from '../../../src/app/reload.js';
import { configSchema } from '../../../src/config/schema.js';

test('changedKeys names the key paths that differ, lists as a whole', () => {
  assert.deepEqual(changedKeys({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { b: 2, c: [1, 2] }, d: 'x', e: true }), ['a.b', 'e']);
  assert.deepEqual(changedKeys({ a: [1] }, { a: [1, 2] }), ['a']);
  assert.deepEqual(changedKeys({ a: 1 }, { a: 1 }), []);
});

test('applicable keeps every restart-required key at its running value and reports it', () => {
  const running = configSchema.parse({ server: { listen: '127.0.0.1:8080' }, store: { url: 'sqlite:/a.db' }, session: { idle_timeout: '2h' } });
  const loaded = configSchema.parse({ server: { listen: '0.0.0.0:9000' }, store: { url: 'sqlite:/b.db' }, session: { idle_timeout: '1h' }, access: { rules: [{ name: 'r', paths: ['/x'] }] } });
  const { config, changed, restart_required } = applicable(running, loaded);
  assert.deepEqual(restart_required.sort(), ['server.listen', 'session.idle_timeout', 'store.url']);
  assert.deepEqual(changed, ['access.rules']);
  assert.equal(config.server.listen, '127.0.0.1:8080');
  assert.equal(config.store.url, 'sqlite:/a.db');
  assert.equal(config.session.idle_timeout, 2 * 3_600_000);
  assert.equal(config.access.rules.length, 1, 'the rest is the new file');
});

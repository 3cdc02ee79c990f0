import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeMajor, sqliteBinding, sqlitePackages } from '../../../src/store/sqlite/binding.js';

test('Node 22 and later open SQLite with the Node-API build, Node 20 with the compiled one', () => {
  assert.deepEqual(sqlitePackages(20), ['better-sqlite3']);
  assert.deepEqual(sqlitePackages(22), ['better-sqlite3-node22', 'better-sqlite3']);
  assert.deepEqual(sqlitePackages(24), ['better-sqlite3-node22', 'better-sqlite3']);
  assert.equal(nodeMajor('24.21.0'), 24);
});

test('this Node loads the build meant for it (npm installed the optional one where it applies)', () => {
  const binding = sqliteBinding();
  assert.equal(binding.package, sqlitePackages(nodeMajor())[0]);
  assert.equal(binding.warning, undefined);
  const db = new binding.Database(':memory:');
  try {
    assert.deepEqual(db.prepare('select 1 + 1 as two').get(), { two: 2 });
  } finally {
    db.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateGrant } from '../../../src/authz/grants.js';
import { projectsProblem, rolesProblem } from '../../../src/users/validation.js';

// What JSON.parse gives for a body nesting arrays 20,000 deep: serialising it for an error
// message overflowed the stack and answered 500 instead of 400.
const deep = JSON.parse('['.repeat(20_000) + ']'.repeat(20_000)) as unknown;

test('a deeply nested value in a grant, role or project list is refused with a message, not a crash', () => {
  const grant = validateGrant({ paths: [deep], methods: [] });
  assert.equal(grant.ok, false);
  assert.match((grant as { fields: Record<string, string> }).fields.paths ?? '', /^an array: /);
  assert.equal(rolesProblem([deep]), 'invalid role name: an array');
  assert.equal(projectsProblem([{ a: deep }]), 'invalid project name: an object');
  assert.equal(rolesProblem(['bad role']), 'invalid role name: "bad role"');
});

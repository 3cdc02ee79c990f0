import { test } from 'node:test';
import assert from 'node:assert/strict';
import { narrowedScope, readScope, scopeAllows, type TokenScope } from '../../../src/authz/token-scope.js';

const ctx = { username: 'alice', projects: ['alpha'] };
const unscoped: TokenScope = { scope: null, read_only: false };
const readOnly: TokenScope = { scope: null, read_only: true };
const api: TokenScope = { scope: [{ paths: ['/api/**'], methods: [] }], read_only: false };

test('an unscoped token is inside its scope everywhere', () => {
  assert.equal(scopeAllows(unscoped, 'DELETE', '/anything', ctx), true);
});

test('a read_only token allows GET and HEAD only', () => {
  assert.equal(scopeAllows(readOnly, 'GET', '/x', ctx), true);
  assert.equal(scopeAllows(readOnly, 'HEAD', '/x', ctx), true);
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) assert.equal(scopeAllows(readOnly, method, '/x', ctx), false, method);
});

test('a path scope allows its paths and methods and nothing else', () => {
  assert.equal(scopeAllows(api, 'POST', '/api/runs', ctx), true);
  assert.equal(scopeAllows(api, 'GET', '/other', ctx), false);
  const getOnly: TokenScope = { scope: [{ paths: ['/api/**'], methods: ['GET'] }], read_only: false };
  assert.equal(scopeAllows(getOnly, 'HEAD', '/api/a', ctx), true, 'HEAD rides on GET as in grants');
  assert.equal(scopeAllows(getOnly, 'POST', '/api/a', ctx), false);
});

test('every grant of a scope list must allow: the list is an intersection, not a union', () => {
  const both: TokenScope = {
    scope: [
      { paths: ['/api/**'], methods: [] },
      { paths: ['/api/reports/*'], methods: ['GET'] },
    ],
    read_only: false,
  };
  assert.equal(scopeAllows(both, 'GET', '/api/reports/q1', ctx), true);
  assert.equal(scopeAllows(both, 'GET', '/api/runs', ctx), false, 'allowed by the first grant only');
  assert.equal(scopeAllows(both, 'POST', '/api/reports/q1', ctx), false, 'the second grant allows GET only');
});

test('read_only narrows a path scope further', () => {
  const narrowed: TokenScope = { scope: [{ paths: ['/api/**'], methods: ['GET', 'POST'] }], read_only: true };
  assert.equal(scopeAllows(narrowed, 'GET', '/api/a', ctx), true);
  assert.equal(scopeAllows(narrowed, 'POST', '/api/a', ctx), false);
});

test("placeholders in a scope match the caller's own values only, whatever its roles", () => {
  const own: TokenScope = { scope: [{ paths: ['/users/{self}/**'], methods: [] }], read_only: false };
  assert.equal(scopeAllows(own, 'GET', '/users/alice/files', ctx), true);
  assert.equal(scopeAllows(own, 'GET', '/users/bob/files', ctx), false);
});

test('an empty scope list (a damaged row) allows nothing', () => {
  assert.equal(scopeAllows({ scope: [], read_only: false }, 'GET', '/', ctx), false);
});

test('a token minted without a token caller carries only the requested scope', () => {
  assert.deepEqual(narrowedScope(undefined, { scope: undefined, readOnly: false }), { scope: null, read_only: false });
  assert.deepEqual(narrowedScope(unscoped, { scope: undefined, readOnly: true }), { scope: null, read_only: true });
  assert.deepEqual(narrowedScope(undefined, { scope: { paths: ['/a'], methods: [] }, readOnly: false }), { scope: [{ paths: ['/a'], methods: [] }], read_only: false });
});

test('a scoped caller hands its scope and read_only down, and a requested scope is added to it, never replacing it', () => {
  assert.deepEqual(narrowedScope(api, { scope: undefined, readOnly: false }), { scope: api.scope, read_only: false });
  assert.deepEqual(narrowedScope(readOnly, { scope: undefined, readOnly: false }), { scope: null, read_only: true });
  const wider = { paths: ['/**'], methods: [] };
  const minted = narrowedScope(api, { scope: wider, readOnly: false });
  assert.deepEqual(minted.scope, [{ paths: ['/api/**'], methods: [] }, wider]);
  assert.equal(scopeAllows(minted, 'GET', '/other', ctx), false, 'asking for /** does not widen /api/**');
});

test('re-minting with the scope the caller already has does not grow the list', () => {
  const same = narrowedScope(api, { scope: { paths: ['/api/**'], methods: [] }, readOnly: false });
  assert.equal(same.scope?.length, 1);
});

test('a caller with a damaged empty scope hands down "nothing", never "unscoped"', () => {
  assert.deepEqual(narrowedScope({ scope: [], read_only: false }, { scope: undefined, readOnly: false }).scope, []);
});

test('readScope validates a scope as a grant and names the problem', () => {
  const fields: Record<string, string> = {};
  assert.deepEqual(readScope({ paths: ['/a/**'], methods: ['get'] }, fields), { paths: ['/a/**'], methods: ['GET'] });
  assert.equal(readScope({ paths: [] }, fields), undefined);
  assert.match(fields.scope ?? '', /paths/);
  assert.equal(readScope(undefined, {}), undefined);
});

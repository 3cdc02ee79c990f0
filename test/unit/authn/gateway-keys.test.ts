import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { GatewayKeys } from '../../../src/authn/gateway-keys.js';
import { openStore } from '../../../src/store/open.js';

test('keys are generated once, shared through the store, and rotation keeps the previous key published', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate();
  try {
    const a = await GatewayKeys.load(store, { issuer: 'https://gw' });
    const b = await GatewayKeys.load(store, { issuer: 'https://gw' });
    assert.deepEqual(
      a.jwks().keys.map((k) => k.kid),
      b.jwks().keys.map((k) => k.kid),
    );
    const identity = { username: 'ann', roles: ['user'], projects: ['p'], source: 'local' };
    const before = await a.signAssertion(identity, 'jobs');
    const { payload } = await jwtVerify(before, createLocalJWKSet(a.jwks()), { issuer: 'https://gw', audience: 'jobs', algorithms: ['ES256'] });
    assert.equal(payload.sub, 'ann');
    assert.ok((payload.exp as number) - (payload.iat as number) <= 300);
    assert.equal(await a.verifyToken(before), undefined, 'an assertion is never a credential');
    const token = await a.signToken({ sub: 'bot', roles: ['api'], projects: [], source: 'local', jti: 't1', token_use: 'api' }, Date.now() + 60_000);
    assert.equal((await a.verifyToken(token))?.sub, 'bot');
    assert.equal(await a.rotateIfOlderThan(3_600_000), false, 'a fresh key is kept');
    assert.equal(await a.rotateIfOlderThan(0), true);
    assert.equal(a.jwks().keys.length, 2);
    assert.equal((await a.verifyToken(token))?.jti, 't1', 'tokens of the previous key still verify');
    await jwtVerify(before, createLocalJWKSet(a.jwks()), { issuer: 'https://gw', audience: 'jobs' });
    const after = await a.signAssertion({ ...identity, roles: ['user', 'x'] }, 'jobs');
    assert.notEqual(JSON.parse(Buffer.from(after.split('.')[0] as string, 'base64url').toString()).kid, JSON.parse(Buffer.from(before.split('.')[0] as string, 'base64url').toString()).kid);
  } finally {
    await store.close();
  }
});

test('a shared identity reuses its assertion per audience until the signing key changes', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate();
  try {
    const keys = await GatewayKeys.load(store, { issuer: 'https://gw' });
    const kid = (jwt: string): string => JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()).kid as string;
    const audience = (jwt: string): unknown => JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()).aud;
    const shared = Object.freeze({ username: 'ann', roles: ['user'], projects: ['p'], source: 'local' });
    const first = await keys.signAssertion(shared, 'jobs');
    assert.equal(keys.cachedAssertion(shared, 'jobs'), first);
    assert.equal(keys.cachedAssertion({ ...shared }, 'jobs'), first, 'an equal identity finds it too');
    const other = await keys.signAssertion(shared, 'metrics');
    assert.equal(audience(other), 'metrics', 'another route gets its own audience');
    assert.equal(keys.cachedAssertion(shared, 'jobs'), first);
    assert.equal(keys.cachedAssertion(Object.freeze({ ...shared, roles: ['user', 'manager'] }), 'jobs'), undefined, 'other roles, other assertion');
    await keys.rotateIfOlderThan(0);
    assert.equal(keys.cachedAssertion(shared, 'jobs'), undefined, 'nothing signed by the previous key is reused');
    const rotated = await keys.signAssertion(shared, 'jobs');
    assert.notEqual(kid(rotated), kid(first));
    assert.equal(keys.cachedAssertion(shared, 'jobs'), rotated);
  } finally {
    await store.close();
  }
});

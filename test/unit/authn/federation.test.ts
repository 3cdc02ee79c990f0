import { test } from 'node:test';
import assert from 'node:assert/strict';
import { federateUser } from '../../../src/authn/federation.js';
import { jwtIssuerSchema } from '../../../src/config/schema.js';
import { openStore } from '../../../src/store/open.js';

const claims = (username: string, roles: string[]): { username: string; name: string; email: string; roles: string[]; projects: string[]; exp: number } => ({
  username,
  name: '',
  email: '',
  roles,
  projects: [],
  exp: 0,
});

test('users: existing needs a jwt:<issuer> user, takes roles from the store and never a privileged one', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate();
  try {
    const issuer = jwtIssuerSchema.parse({ name: 'portal', issuer: 'https://p', audience: 'a', algorithms: ['RS256'], jwks_url: 'http://x', users: 'existing' });
    assert.deepEqual(await federateUser(store, issuer, claims('ghost', ['user']), 1), { ok: false, reason: 'unknown_user' });
    const base = {
      name: '',
      email: '',
      mapped_roles: [],
      projects: ['alpha'],
      mapped_projects: [],
      password_hash: null,
      disabled: false,
      must_change_password: false,
      grants: [],
      quotas: {},
      attributes: {},
      mapped_attributes: [],
      now: 1,
    };
    await store.createUser({ ...base, username: 'ext', roles: ['admin', 'manager'], source: 'jwt:portal' });
    await store.createUser({ ...base, username: 'localann', roles: ['user'], source: 'local' });
    await store.createUser({ ...base, username: 'otherext', roles: ['user'], source: 'jwt:lab' });
    const ok = await federateUser(store, issuer, claims('ext', ['user', 'superuser']), 1);
    assert.ok(ok.ok);
    assert.deepEqual(ok.ok && ok.roles, ['manager'], 'roles from the store, admin stripped');
    assert.deepEqual(ok.ok && ok.projects, ['alpha']);
    assert.deepEqual(await federateUser(store, issuer, claims('localann', ['user']), 1), { ok: false, reason: 'invalid_token' });
    assert.deepEqual(await federateUser(store, issuer, claims('otherext', ['user']), 1), { ok: false, reason: 'invalid_token' });
    await store.updateUser('ext', { disabled: true, now: 2 });
    assert.deepEqual(await federateUser(store, issuer, claims('ext', ['user']), 2), { ok: false, reason: 'account_disabled' });
  } finally {
    await store.close();
  }
});

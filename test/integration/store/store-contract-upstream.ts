/**
 * The store contract, per-user upstream credentials (SPEC 15): sealed values per user and route,
 * only for an existing user, gone with the user or its disabling, and each change announced as
 * a change of the user (the replicas' caches of the identity drop what they made from it).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { SealedCredential } from '../../../src/store/types.js';
import { collectChanges, has, newUser, T0 } from './fixtures.js';
import type { StoreHarness } from './store-contract.js';

const sealed = (text: string): SealedCredential => ({ ciphertext: Buffer.from(text).toString('base64'), iv: 'aXY=', tag: 'dGFn' });

export function upstreamCredentialsContract(harness: StoreHarness): void {
  test('stores one sealed credential per user and route, replaced by a second put, case-insensitive user', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('Gwen'));
    assert.equal(await store.putUpstreamCredential('gwen', 'gmt', sealed('one'), T0), true);
    assert.equal(await store.putUpstreamCredential('GWEN', 'gmt', sealed('two'), T0 + 1), true);
    assert.equal(await store.putUpstreamCredential('Gwen', 'db', sealed('three'), T0), true);
    assert.deepEqual(await store.getUpstreamCredential('gwen', 'gmt'), sealed('two'));
    assert.deepEqual(await store.listUpstreamCredentialRoutes('gWen'), ['db', 'gmt']);
    assert.equal(await store.getUpstreamCredential('gwen', 'other'), undefined);
  });

  test('a credential is stored only for an existing user', async () => {
    const store = await harness.fresh();
    assert.equal(await store.putUpstreamCredential('nobody', 'gmt', sealed('x'), T0), false);
    assert.deepEqual(await store.listUpstreamCredentialRoutes('nobody'), []);
  });

  test("deletes one route's credential, and answers false when there was none", async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('hal'));
    await store.putUpstreamCredential('hal', 'gmt', sealed('x'), T0);
    await store.putUpstreamCredential('hal', 'db', sealed('y'), T0);
    assert.equal(await store.deleteUpstreamCredential('HAL', 'gmt'), true);
    assert.equal(await store.deleteUpstreamCredential('hal', 'gmt'), false);
    assert.deepEqual(await store.listUpstreamCredentialRoutes('hal'), ['db']);
  });

  test('deleting or disabling the user deletes its credentials, and a recreated user has none', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('ida'));
    await store.createUser(newUser('jo'));
    await store.putUpstreamCredential('ida', 'gmt', sealed('x'), T0);
    await store.putUpstreamCredential('jo', 'gmt', sealed('y'), T0);
    await store.updateUser('jo', { disabled: true, now: T0 });
    assert.deepEqual(await store.listUpstreamCredentialRoutes('jo'), []);
    assert.equal(await store.deleteUser('ida'), true);
    await store.createUser(newUser('ida'));
    assert.equal(await store.getUpstreamCredential('ida', 'gmt'), undefined);
  });

  test('a put and a delete are announced as a change of the user', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('kim'));
    const seen = collectChanges(store);
    try {
      await store.putUpstreamCredential('Kim', 'gmt', sealed('x'), T0);
      await seen.waitFor(has('user', 'kim'));
      seen.changes.length = 0;
      await store.deleteUpstreamCredential('kim', 'gmt');
      await seen.waitFor(has('user', 'kim'));
    } finally {
      seen.stop();
    }
  });
}

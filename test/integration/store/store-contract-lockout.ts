/**
 * The store contract, part three: reserving password guesses before they are checked, so the
 * lockout limit holds however many replicas guess at once. Run by store-contract.ts for every dialect.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { LoginAttempt, LoginAttemptId } from '../../../src/store/types.js';
import type { StoreHarness } from './store-contract.js';
import { T0 } from './fixtures.js';

const MIN = 60_000;

const admittedOf = (attempts: LoginAttempt[]): Array<Extract<LoginAttempt, { admitted: true }>> => attempts.filter((a) => a.admitted);

export function lockoutContract(harness: StoreHarness): void {
  test('twenty concurrent reservations for one name with max_failures 5 admit exactly five', async () => {
    const store = await harness.fresh();
    const attempts = await Promise.all(Array.from({ length: 20 }, (_, i) => store.reserveLoginAttempt(i % 2 === 0 ? 'Mallory' : 'mallory', T0, T0 - 15 * MIN, 5)));
    const admitted = admittedOf(attempts);
    assert.equal(admitted.length, 5);
    assert.deepEqual(
      admitted.map((a) => a.failures).sort((x, y) => x - y),
      [1, 2, 3, 4, 5],
    );
    assert.equal(new Set(admitted.map((a) => String(a.id))).size, 5, 'every admitted guess has its own id');
    assert.equal((await store.reserveLoginAttempt('other', T0, T0 - 15 * MIN, 5)).admitted, true, 'another name has its own budget');
  });

  test('reserved guesses count as failures, and a released one frees its slot', async () => {
    const store = await harness.fresh();
    const ids: LoginAttemptId[] = [];
    for (let i = 0; i < 3; i++) {
      const attempt = await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 3);
      assert.ok(attempt.admitted);
      ids.push(attempt.id);
    }
    assert.equal((await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 3)).admitted, false);
    const beyond = await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 100);
    assert.ok(beyond.admitted && beyond.failures === 4, 'reservations are failure rows');
    await store.clearLoginFailures('rita');
    for (let i = 0; i < 3; i++) assert.ok((await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 3)).admitted);
    const last = await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 4);
    assert.ok(last.admitted);
    assert.equal((await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 4)).admitted, false);
    await store.releaseLoginAttempt('RITA', last.id);
    const again = await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 4);
    assert.ok(again.admitted, 'the released slot is free again');
    assert.equal(again.failures, 4);
    assert.equal((await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 4)).admitted, false);
    await store.releaseLoginAttempt('other', again.id);
    assert.equal((await store.reserveLoginAttempt('rita', T0, T0 - 15 * MIN, 4)).admitted, false, 'a release names its own user');
  });

  test('failures that fall out of the window free their slots', async () => {
    const store = await harness.fresh();
    for (let i = 0; i < 2; i++) assert.ok((await store.reserveLoginAttempt('walt', T0, T0 - 15 * MIN, 2)).admitted);
    assert.equal((await store.reserveLoginAttempt('walt', T0 + MIN, T0 - 14 * MIN, 2)).admitted, false);
    assert.ok((await store.reserveLoginAttempt('walt', T0 + 16 * MIN, T0 + MIN, 2)).admitted);
  });

  test('a locked name admits no reservation, and after the lockout one guess at a time', async () => {
    const store = await harness.fresh();
    await store.setLockout('Lena', T0 + 15 * MIN);
    const locked = await Promise.all(Array.from({ length: 10 }, () => store.reserveLoginAttempt('lena', T0, T0 - 15 * MIN, 5)));
    assert.equal(admittedOf(locked).length, 0);

    // Three failures lock the name for one minute; they stay in the fifteen-minute window.
    for (let i = 0; i < 3; i++) assert.ok((await store.reserveLoginAttempt('nora', T0, T0 - 15 * MIN, 3)).admitted);
    await store.setLockout('nora', T0 + MIN);
    assert.equal((await store.reserveLoginAttempt('nora', T0 + MIN - 1, T0 - 14 * MIN, 3)).admitted, false);
    const later = T0 + 2 * MIN;
    const afterwards = await Promise.all(Array.from({ length: 10 }, () => store.reserveLoginAttempt('nora', later, later - 15 * MIN, 3)));
    const admitted = admittedOf(afterwards);
    assert.equal(admitted.length, 1, 'one guess after the lockout ended');
    assert.equal(admitted[0]?.failures, 4);
    await store.releaseLoginAttempt('nora', (admitted[0] as { id: LoginAttemptId }).id);
    assert.ok((await store.reserveLoginAttempt('nora', later, later - 15 * MIN, 3)).admitted, 'a released guess lets the next one go');
  });
}

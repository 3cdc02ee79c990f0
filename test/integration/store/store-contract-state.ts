/**
 * The store contract, part two: lockout counters, quotas, jti replay, signing keys,
 * events, purge and change notifications. Run by store-contract.ts for every dialect.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { SqlStore } from '../../../src/store/sql-store.js';
import type { SigningKeyRecord, StoreChange } from '../../../src/store/types.js';
import type { StoreHarness } from './store-contract.js';
import { collectChanges, has, newUser, session, sleep, T0, token, userFor } from './fixtures.js';

const MIN = 60_000;

function signingKey(kid: string, createdAt: number): SigningKeyRecord {
  return { kid, alg: 'ES256', private_jwk: `{"kid":"${kid}","d":"x"}`, public_jwk: `{"kid":"${kid}"}`, created_at: createdAt, retired_at: null, expires_at: null };
}

export function stateContract(harness: StoreHarness): void {
  test('counts login failures inside the window, including the new one, case-insensitively', async () => {
    const store = await harness.fresh();
    const failures = async (name: string, now: number, windowStart: number): Promise<number> => {
      const attempt = await store.reserveLoginAttempt(name, now, windowStart, 100);
      assert.ok(attempt.admitted);
      return attempt.failures;
    };
    assert.equal(await failures('Lou', T0, T0 - 15 * MIN), 1);
    assert.equal(await failures('lou', T0 + MIN, T0 - 14 * MIN), 2);
    assert.equal(await failures('other', T0 + MIN, T0 - 14 * MIN), 1);
    // The first failure falls out of a window starting after it.
    assert.equal(await failures('LOU', T0 + 16 * MIN, T0 + MIN), 2);
    await store.clearLoginFailures('lou');
    assert.equal(await failures('lou', T0 + 17 * MIN, T0 + 2 * MIN), 1);
  });

  test('counts concurrent login failures of one name without losing any', async () => {
    const store = await harness.fresh();
    const attempts = await Promise.all(Array.from({ length: 20 }, () => store.reserveLoginAttempt('mallory', T0, T0 - MIN, 100)));
    const counts = attempts.map((a) => (a.admitted ? a.failures : 0));
    assert.deepEqual(
      [...counts].sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  test('sets and reads a lockout per name', async () => {
    const store = await harness.fresh();
    assert.equal(await store.getLockout('nina'), undefined);
    assert.ok((await store.reserveLoginAttempt('nina', T0, T0 - MIN, 5)).admitted);
    assert.equal(await store.getLockout('nina'), undefined, 'a failure alone is no lockout');
    await store.setLockout('Nina', T0 + 15 * MIN);
    assert.equal(await store.getLockout('NINA'), T0 + 15 * MIN);
    await store.setLockout('nina', T0 + 30 * MIN);
    assert.equal(await store.getLockout('nina'), T0 + 30 * MIN);
  });

  test('increments quota counters per key and per window', async () => {
    const store = await harness.fresh();
    assert.equal(await store.incrementQuota('alice:submit', T0), 1);
    assert.equal(await store.incrementQuota('alice:submit', T0), 2);
    assert.equal(await store.incrementQuota('bob:submit', T0), 1);
    assert.equal(await store.incrementQuota('alice:submit', T0 + 3_600_000), 1);
  });

  test('a budget counter (window -1) is read back, survives every purge and starts afresh when reset', async () => {
    const store = await harness.fresh();
    assert.equal(await store.quotaCount('submit:alice', -1), 0);
    await store.incrementQuota('submit:alice', -1);
    await store.incrementQuota('submit:alice', -1);
    await store.incrementQuota('submit:bob', -1);
    await store.purge(T0 + 400 * 86_400_000, T0);
    assert.equal(await store.quotaCount('submit:alice', -1), 2, 'a budget is not an old window');
    await store.resetQuota('submit:alice');
    assert.equal(await store.quotaCount('submit:alice', -1), 0);
    assert.equal(await store.quotaCount('submit:bob', -1), 1, 'another user keeps its count');
    assert.equal(await store.incrementQuota('submit:alice', -1), 1);
  });

  test('fifty concurrent quota increments return 1 to 50 exactly once each', async () => {
    const store = await harness.fresh();
    const counts = await Promise.all(Array.from({ length: 50 }, () => store.incrementQuota('race:rule', T0)));
    assert.deepEqual(
      [...counts].sort((a, b) => a - b),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  test('accepts a jti once per issuer and reports every replay', async () => {
    const store = await harness.fresh();
    assert.equal(await store.recordJti('portal', 'j1', T0 + MIN), true);
    assert.equal(await store.recordJti('portal', 'j1', T0 + MIN), false);
    assert.equal(await store.recordJti('other', 'j1', T0 + MIN), true);
  });

  test('of concurrent duplicate jti records exactly one wins', async () => {
    const store = await harness.fresh();
    const results = await Promise.all(Array.from({ length: 25 }, () => store.recordJti('portal', 'race', T0 + MIN)));
    assert.equal(results.filter(Boolean).length, 1);
  });

  test('inserts signing keys once per kid, lists them oldest first and retires them', async () => {
    const store = await harness.fresh();
    await store.insertSigningKey(signingKey('k2', T0 + 1));
    await store.insertSigningKey(signingKey('k1', T0));
    await store.insertSigningKey({ ...signingKey('k1', T0 + 5), alg: 'EdDSA' });
    const keys = await store.listSigningKeys();
    assert.deepEqual(keys, [signingKey('k1', T0), signingKey('k2', T0 + 1)]);
    await store.retireSigningKey('k1', T0 + 10, T0 + 20);
    const [k1] = await store.listSigningKeys();
    assert.equal(k1?.retired_at, T0 + 10);
    assert.equal(k1?.expires_at, T0 + 20);
  });

  test('lists events newest first with type, username, since and paging filters and a total', async () => {
    const store = await harness.fresh();
    await store.insertEvent({ type: 'UserLoggedIn', time: T0, username: 'Olga', data: { method: 'form', roles: ['user'] } });
    await store.insertEvent({ type: 'UserLoginFailed', time: T0 + 1, username: 'olga', data: { reason: 'bad_password' } });
    await store.insertEvent({ type: 'UserLoggedIn', time: T0 + 2, username: 'pete', data: {} });
    await store.insertEvent({ type: 'UserCreated', time: T0 + 3, username: null, data: { by: 'admin' } });
    const all = await store.listEvents({ limit: 10 });
    assert.equal(all.total, 4);
    assert.deepEqual(
      all.events.map((e) => e.time),
      [T0 + 3, T0 + 2, T0 + 1, T0],
    );
    assert.equal(all.events[0]?.username, null);
    assert.deepEqual(all.events[3]?.data, { method: 'form', roles: ['user'] });
    assert.equal(typeof all.events[0]?.id, 'number');
    const logins = await store.listEvents({ type: 'UserLoggedIn', limit: 10 });
    assert.deepEqual([logins.events.map((e) => e.username), logins.total], [['pete', 'Olga'], 2]);
    const olga = await store.listEvents({ username: 'OLGA', limit: 10 });
    assert.deepEqual(
      olga.events.map((e) => e.type),
      ['UserLoginFailed', 'UserLoggedIn'],
    );
    const since = await store.listEvents({ since: T0 + 2, limit: 10 });
    assert.equal(since.total, 2);
    const page = await store.listEvents({ limit: 1, offset: 1 });
    assert.deepEqual([page.events.map((e) => e.time), page.total], [[T0 + 2], 4]);
  });

  test('purge removes what expired and keeps what is current', async () => {
    const store = await harness.fresh();
    const now = T0 + 10 * MIN;
    const quinn = await userFor(store, 'quinn');
    await store.createSession(session('old', 'quinn', { expires_at: now - 1, auth_version: quinn }));
    await store.createSession(session('live', 'quinn', { expires_at: now + MIN, auth_version: quinn }));
    await store.createToken(token('t-old', 'quinn', { expires_at: now, auth_version: quinn }));
    await store.createToken(token('t-live', 'quinn', { expires_at: now + MIN, auth_version: quinn }));
    await store.recordJti('portal', 'expired', now - 1);
    await store.recordJti('portal', 'live', now + MIN);
    await store.insertEvent({ type: 'Old', time: T0, username: null, data: {} });
    await store.insertEvent({ type: 'New', time: now, username: null, data: {} });
    await store.incrementQuota('q', T0);
    await store.incrementQuota('q', T0);
    await store.incrementQuota('q', T0 + 5 * MIN);
    await store.purge(now, T0 + 1);
    assert.equal(await store.getSession('old'), undefined);
    assert.ok(await store.getSession('live'));
    assert.equal(await store.getToken('t-old'), undefined);
    assert.ok(await store.getToken('t-live'));
    assert.equal(await store.recordJti('portal', 'expired', now + MIN), true, 'an expired jti record is gone');
    assert.equal(await store.recordJti('portal', 'live', now + MIN), false);
    assert.deepEqual(
      (await store.listEvents({ limit: 10 })).events.map((e) => e.type),
      ['New'],
    );
    assert.equal(await store.incrementQuota('q', T0), 1, 'a superseded window was dropped');
    assert.equal(await store.incrementQuota('q', T0 + 5 * MIN), 2, 'the current window was kept');
  });

  test('purge removes every expired event across several batches and keeps the current ones', async () => {
    const store = await harness.fresh();
    const expired = 2 * SqlStore.EVENT_PURGE_BATCH + 7;
    for (let i = 0; i < expired; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, expired - i) }, (_, j) => store.insertEvent({ type: 'UserLoginFailed', time: T0 + i + j, username: null, data: { reason: 'invalid_token' } })),
      );
    }
    const cutoff = T0 + expired;
    for (let i = 0; i < 3; i++) await store.insertEvent({ type: 'UserLoggedIn', time: cutoff + i, username: 'keeper', data: {} });
    await store.purge(cutoff + MIN, cutoff);
    const left = await store.listEvents({ limit: 10 });
    assert.equal(left.total, 3);
    assert.deepEqual(
      left.events.map((e) => e.type),
      ['UserLoggedIn', 'UserLoggedIn', 'UserLoggedIn'],
    );
    await store.purge(cutoff + MIN, cutoff);
    assert.equal((await store.listEvents({ limit: 1 })).total, 3, 'a purge with nothing expired keeps everything');
  });

  test('publishes one change per mutation after commit, and none for a refused one', async () => {
    const store = await harness.fresh();
    const seen = collectChanges(store);
    try {
      const { auth_version: rita } = await store.createUser(newUser('Rita'));
      await seen.waitFor(has('user', 'rita'));
      await assert.rejects(store.createUser(newUser('rita')));
      await store.createSession(session('sess-rita', 'rita', { auth_version: rita }));
      await store.createToken(token('tok-rita', 'rita', { auth_version: rita }));
      await store.createToken(token('tok-rita-2', 'rita', { auth_version: rita }));
      await store.deleteSession('sess-rita');
      await store.revokeToken('tok-rita', T0);
      await store.revokeTokensOfUser('RITA', T0);
      await store.deleteSessionsOfUser('rita');
      await store.updateUser('rita', { end_sessions: true, now: T0 });
      await store.deleteUser('rita');
      await store.insertSigningKey(signingKey('kid-r', T0));
      await store.retireSigningKey('kid-r', T0, T0);
      const expected: StoreChange[] = [
        { kind: 'user', key: 'rita' },
        { kind: 'session', key: 'sess-rita' },
        { kind: 'token', key: 'tok-rita' },
        { kind: 'user', key: 'rita' },
        { kind: 'user', key: 'rita' },
        { kind: 'user', key: 'rita' },
        { kind: 'user', key: 'rita' },
        { kind: 'signing_key', key: 'kid-r' },
        { kind: 'signing_key', key: 'kid-r' },
      ];
      await seen.waitFor(has('signing_key', 'kid-r') && ((changes) => changes.filter((c) => c.kind === 'signing_key').length >= 2));
      await sleep(150); // a duplicate delivery would arrive in this time
      const mine = new Set(['rita', 'sess-rita', 'tok-rita', 'kid-r']);
      assert.deepEqual(
        seen.changes.filter((c) => mine.has(c.key)),
        expected,
      );
    } finally {
      seen.stop();
    }
  });

  test('stops delivering changes to a listener once it unsubscribes', async () => {
    const store = await harness.fresh();
    const kept = collectChanges(store);
    const dropped = collectChanges(store);
    dropped.stop();
    await store.createUser(newUser('sam'));
    await kept.waitFor(has('user', 'sam'));
    kept.stop();
    assert.deepEqual(dropped.changes, []);
  });
}

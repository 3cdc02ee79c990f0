/**
 * The store contract, part three: the guarantees that must hold under concurrency, on SQLite
 * and PostgreSQL alike — the last enabled admin, users recreated under a deleted name, and
 * seed entries applied once.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { PortcullisError } from '../../../src/errors/errors.js';
import type { Store } from '../../../src/store/types.js';
import type { StoreHarness } from './store-contract.js';
import { newUser, session, T0, token } from './fixtures.js';

const ROUNDS = 25;

function isCode(code: string): (err: unknown) => boolean {
  return (err: unknown) => err instanceof PortcullisError && err.code === code;
}

/** Settles `ops` concurrently; returns how many were fulfilled and the codes of the rejections. */
async function race(ops: Array<() => Promise<unknown>>): Promise<{ ok: number; codes: string[] }> {
  const results = await Promise.allSettled(ops.map((op) => op()));
  const codes = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof PortcullisError ? r.reason.code : String(r.reason)] : []));
  return { ok: results.filter((r) => r.status === 'fulfilled').length, codes };
}

async function twoAdmins(store: Store, round: number): Promise<[string, string]> {
  const a = `ada${round}`;
  const b = `bea${round}`;
  await store.createUser(newUser(a, { roles: ['admin'] }));
  await store.createUser(newUser(b, { roles: ['admin', 'user'] }));
  return [a, b];
}

export function guardsContract(harness: StoreHarness): void {
  test('two guarded disables of the last two admins at once: one passes, the other is refused with last_admin', async () => {
    const store = await harness.fresh();
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await twoAdmins(store, round);
      const outcome = await race([
        () => store.updateUser(a, { disabled: true, end_sessions: true, guard_last_admin: true, now: T0 }),
        () => store.updateUser(b, { disabled: true, end_sessions: true, guard_last_admin: true, now: T0 }),
      ]);
      assert.deepEqual(outcome, { ok: 1, codes: ['last_admin'] }, `round ${round}`);
      assert.equal(await store.countEnabledAdmins(), 1, `round ${round}`);
      await store.deleteUser(a);
      await store.deleteUser(b);
    }
  });

  test('a guarded delete racing a guarded demotion never leaves zero enabled admins', async () => {
    const store = await harness.fresh();
    for (let round = 0; round < ROUNDS; round++) {
      const [a, b] = await twoAdmins(store, round);
      const outcome = await race([() => store.deleteUser(a, { guard_last_admin: true }), () => store.updateUser(b, { roles: ['user'], end_sessions: true, guard_last_admin: true, now: T0 })]);
      assert.deepEqual(outcome, { ok: 1, codes: ['last_admin'] }, `round ${round}`);
      assert.equal(await store.countEnabledAdmins(), 1, `round ${round}`);
      await store.deleteUser(a);
      await store.deleteUser(b);
    }
  });

  test('a refused guarded change leaves the user, its sessions and its tokens untouched', async () => {
    const store = await harness.fresh();
    const { auth_version: version } = await store.createUser(newUser('solo', { roles: ['admin'] }));
    await store.createSession(session('s-solo', 'solo', { auth_version: version }));
    await store.createToken(token('t-solo', 'solo', { auth_version: version }));
    await assert.rejects(store.updateUser('solo', { disabled: true, end_sessions: true, guard_last_admin: true, now: T0 + 1 }), isCode('last_admin'));
    await assert.rejects(store.updateUser('solo', { roles: ['user'], end_sessions: true, guard_last_admin: true, now: T0 + 1 }), isCode('last_admin'));
    await assert.rejects(store.deleteUser('SOLO', { guard_last_admin: true }), isCode('last_admin'));
    const kept = await store.getUser('solo');
    assert.deepEqual([kept?.disabled, kept?.roles, kept?.auth_version], [false, ['admin'], version]);
    assert.ok(await store.getSession('s-solo'));
    assert.equal((await store.getToken('t-solo'))?.revoked_at, null);
    // Changes that keep an enabled admin pass the guard.
    assert.equal((await store.updateUser('solo', { name: 'Solo', guard_last_admin: true, now: T0 + 2 }))?.name, 'Solo');
    await store.createUser(newUser('duo', { roles: ['admin'], disabled: true }));
    assert.equal(await store.deleteUser('duo', { guard_last_admin: true }), true, 'a disabled admin is not the last enabled one');
    assert.equal(await store.updateUser('ghost', { disabled: true, guard_last_admin: true, now: T0 }), undefined);
    assert.equal(await store.deleteUser('ghost', { guard_last_admin: true }), false);
  });

  test('a user recreated under a deleted name never matches the sessions and tokens of its predecessor', async () => {
    const store = await harness.fresh();
    const old = await store.createUser(newUser('bob'));
    await store.createSession(session('s-bob', 'bob', { auth_version: old.auth_version }));
    await store.createToken(token('t-bob', 'bob', { auth_version: old.auth_version }));
    await store.updateUser('bob', { end_sessions: true, now: T0 + 1 });
    assert.equal(await store.deleteUser('bob'), true);
    assert.equal(await store.getSession('s-bob'), undefined);
    assert.equal(await store.getToken('t-bob'), undefined);
    const versions = new Set([old.auth_version, old.auth_version + 1]);
    for (let i = 0; i < 5; i++) {
      const again = await store.createUser(newUser(i % 2 === 0 ? 'Bob' : 'bob'));
      assert.ok(!versions.has(again.auth_version), 'a new user starts at an auth_version no predecessor had');
      versions.add(again.auth_version);
      await store.deleteUser('bob');
    }
    const current = await store.createUser(newUser('BOB'));
    // A session or token minted for the old bob (the caller still holds its record) is refused.
    await assert.rejects(store.createSession(session('s-late', 'bob', { auth_version: old.auth_version })), isCode('unauthenticated'));
    await assert.rejects(store.createToken(token('t-late', 'bob', { auth_version: old.auth_version })), isCode('unauthenticated'));
    assert.equal(await store.getSession('s-late'), undefined);
    assert.deepEqual(await store.listTokens('bob'), []);
    await store.createSession(session('s-new', 'bob', { auth_version: current.auth_version }));
    assert.equal((await store.getSession('s-new'))?.auth_version, current.auth_version);
  });

  test('sessions and tokens are stored only for an existing user at its current auth_version', async () => {
    const store = await harness.fresh();
    await assert.rejects(store.createSession(session('s-none', 'nobody')), isCode('unauthenticated'));
    await assert.rejects(store.createToken(token('t-none', 'nobody')), isCode('unauthenticated'));
    const { auth_version: version } = await store.createUser(newUser('cleo'));
    const revoked = await store.updateUser('cleo', { end_sessions: true, now: T0 + 1 });
    assert.equal(revoked?.auth_version, version + 1);
    await assert.rejects(store.createSession(session('s-stale', 'cleo', { auth_version: version })), isCode('unauthenticated'), 'minted before a revoke');
    await assert.rejects(store.createToken(token('t-stale', 'cleo', { auth_version: version })), isCode('unauthenticated'));
    assert.equal(await store.getSession('s-stale'), undefined);
    assert.equal(await store.getToken('t-stale'), undefined);
    await store.createToken(token('t-ok', 'CLEO', { auth_version: version + 1 }));
    assert.ok(await store.getToken('t-ok'));
  });

  test('sessions and tokens created concurrently with the delete of their user leave no row behind', async () => {
    const store = await harness.fresh();
    for (let round = 0; round < 10; round++) {
      const name = `dora${round}`;
      const { auth_version: version } = await store.createUser(newUser(name));
      const mints: Array<() => Promise<unknown>> = [];
      for (let i = 0; i < 20; i++) {
        mints.push(() => store.createToken(token(`t-${round}-${i}`, name, { auth_version: version })));
        mints.push(() => store.createSession(session(`s-${round}-${i}`, name, { auth_version: version })));
      }
      const deleted = race([...mints.slice(0, 20), () => store.deleteUser(name), ...mints.slice(20)]);
      const outcome = await deleted;
      assert.ok(
        outcome.codes.every((code) => code === 'unauthenticated'),
        `round ${round}: ${outcome.codes.join(',')}`,
      );
      assert.equal(await store.getUser(name), undefined);
      assert.deepEqual(await store.listTokens(name), [], `round ${round}: no token outlives its user`);
      for (let i = 0; i < 20; i++) assert.equal(await store.getSession(`s-${round}-${i}`), undefined, `round ${round}: session ${i}`);
    }
  });

  test('tokens created concurrently never overshoot maxActive, and every refusal is a conflict', async () => {
    const store = await harness.fresh();
    for (let round = 0; round < 5; round++) {
      const name = `tess${round}`;
      const { auth_version: version } = await store.createUser(newUser(name));
      const other = await store.createUser(newUser(`ugo${round}`));
      await store.createToken(token(`t-${round}-pre`, name, { auth_version: version }), { maxActive: 10 });
      const mints: Array<() => Promise<unknown>> = [];
      for (let i = 0; i < 30; i++) {
        mints.push(() => store.createToken(token(`t-${round}-${i}`, i % 2 === 0 ? name : name.toUpperCase(), { auth_version: version }), { maxActive: 10 }));
        if (i < 5) mints.push(() => store.createToken(token(`u-${round}-${i}`, other.username, { auth_version: other.auth_version }), { maxActive: 10 }));
      }
      const outcome = await race(mints);
      assert.deepEqual(
        outcome.codes,
        Array.from({ length: 21 }, () => 'conflict'),
        `round ${round}`,
      );
      assert.equal(outcome.ok, 9 + 5, `round ${round}: nine more for ${name}, five for the other user`);
      assert.equal((await store.listTokens(name)).length, 10, `round ${round}: exactly the cap`);
      assert.equal((await store.listTokens(other.username)).length, 5);
    }
  });

  test('a seed entry is applied once, and never again once its user was deleted', async () => {
    const store = await harness.fresh();
    assert.deepEqual(await store.seededUsers(), []);
    assert.equal(await store.seedUser(newUser('Ops', { roles: ['admin'], password_hash: 'first' })), 'created');
    assert.equal(await store.seedUser(newUser('ops', { password_hash: 'second' })), 'seeded_before');
    assert.equal((await store.getUser('ops'))?.password_hash, 'first');
    assert.equal(await store.deleteUser('ops'), true);
    assert.equal(await store.seedUser(newUser('OPS', { password_hash: 'third' })), 'seeded_before');
    assert.equal(await store.getUser('ops'), undefined, 'a deleted seeded user stays deleted');
    await store.createUser(newUser('pre', { password_hash: 'own' }));
    assert.equal(await store.seedUser(newUser('Pre', { password_hash: 'seed' })), 'exists');
    assert.equal((await store.getUser('pre'))?.password_hash, 'own', 'an existing user is never overwritten');
    await store.deleteUser('pre');
    assert.equal(await store.seedUser(newUser('pre', { password_hash: 'seed' })), 'seeded_before', 'the entry counts as applied once it met its user');
    const both = await Promise.all([store.seedUser(newUser('twin')), store.seedUser(newUser('TWIN'))]);
    assert.deepEqual(both.sort(), ['created', 'seeded_before'], 'two replicas starting at once create it once');
    assert.deepEqual(await store.seededUsers(), ['ops', 'pre', 'twin']);
  });
}

/**
 * The store contract: the same tests run against SQLite and PostgreSQL
 * (sqlite-store.test.ts, postgres-store.test.ts). Part one: users, sessions, tokens; part
 * three (store-contract-lockout.ts): reserving password guesses; per-user upstream credentials
 * (store-contract-upstream.ts).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { PortcullisError } from '../../../src/errors/errors.js';
import type { Store } from '../../../src/store/types.js';
import { guardsContract } from './store-contract-guards.js';
import { lockoutContract } from './store-contract-lockout.js';
import { newUser, session, T0, token, userFor } from './fixtures.js';
import { stateContract } from './store-contract-state.js';
import { upstreamCredentialsContract } from './store-contract-upstream.js';

function isConflict(err: unknown): boolean {
  return err instanceof PortcullisError && err.code === 'conflict';
}

export interface StoreHarness {
  /** A migrated store whose tables are empty. */
  fresh(): Promise<Store>;
}

export function storeContract(harness: StoreHarness): void {
  test('migrating an already migrated store is a no-op that keeps the data', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('keeper'));
    await store.migrate();
    await store.migrate();
    assert.equal((await store.getUser('keeper'))?.username, 'keeper');
  });

  test('ping answers on a reachable store', async () => {
    const store = await harness.fresh();
    await store.ping();
  });

  test('creates a user and reads it back case-insensitively with its display case', async () => {
    const store = await harness.fresh();
    const created = await store.createUser(
      newUser('Alice', { roles: ['user', 'manager'], projects: ['alpha'], grants: [{ paths: ['/m/**'], methods: ['GET'] }], quotas: { submit: 10 }, must_change_password: true }),
    );
    assert.equal(created.username, 'Alice');
    assert.ok(Number.isSafeInteger(created.auth_version) && created.auth_version >= 1);
    assert.equal(created.created_at, T0);
    assert.equal(created.last_login_at, null);
    for (const name of ['alice', 'ALICE', 'Alice']) {
      const user = await store.getUser(name);
      assert.ok(user, `getUser(${name})`);
      assert.equal(user.username, 'Alice');
      assert.deepEqual(user.roles, ['user', 'manager']);
      assert.deepEqual(user.projects, ['alpha']);
      assert.deepEqual(user.grants, [{ paths: ['/m/**'], methods: ['GET'] }]);
      assert.deepEqual(user.quotas, { submit: 10 });
      assert.equal(user.must_change_password, true);
      assert.equal(user.disabled, false);
      assert.equal(user.password_hash, 'scrypt$dummy');
      assert.equal(typeof user.created_at, 'number');
    }
    assert.equal(await store.getUser('bob'), undefined);
  });

  test('stores attributes and mapped_attributes, patches them, and reads {} and [] for a user without any', async () => {
    const store = await harness.fresh();
    const attributes = { machines: ['7', '9'], optimizations: ['cpu', 'mem,io'], note: ['Zoë'] };
    const created = await store.createUser(newUser('Attr', { attributes, mapped_attributes: ['machines'] }));
    assert.deepEqual(created.attributes, attributes);
    assert.deepEqual(created.mapped_attributes, ['machines']);
    assert.deepEqual((await store.getUser('attr'))?.attributes, attributes);
    const patched = await store.updateUser('ATTR', { attributes: { retention_days: ['365'] }, mapped_attributes: [], now: T0 + 1 });
    assert.deepEqual(patched?.attributes, { retention_days: ['365'] });
    assert.deepEqual(patched?.mapped_attributes, []);
    assert.equal(patched?.name, 'Attr Name');
    const untouched = await store.updateUser('attr', { name: 'Renamed', now: T0 + 2 });
    assert.deepEqual(untouched?.attributes, { retention_days: ['365'] });
    await store.createUser(newUser('plain'));
    const plain = await store.getUser('plain');
    assert.deepEqual(plain?.attributes, {});
    assert.deepEqual(plain?.mapped_attributes, []);
    assert.deepEqual((await store.listUsers({ q: 'attr', limit: 10, offset: 0 })).users[0]?.attributes, { retention_days: ['365'] });
  });

  test('refuses a second user whose name differs only in case with a conflict error', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('carol'));
    await assert.rejects(store.createUser(newUser('CAROL', { name: 'Other' })), (err: unknown) => {
      assert.ok(err instanceof PortcullisError);
      assert.equal(err.code, 'conflict');
      assert.deepEqual(err.fields, { username: 'already exists' });
      return true;
    });
    assert.equal((await store.getUser('carol'))?.name, 'carol Name');
  });

  test('createUserIfAbsent creates once and never overwrites', async () => {
    const store = await harness.fresh();
    assert.equal(await store.createUserIfAbsent(newUser('seeded', { password_hash: 'first' })), true);
    assert.equal(await store.createUserIfAbsent(newUser('Seeded', { password_hash: 'second' })), false);
    assert.equal((await store.getUser('seeded'))?.password_hash, 'first');
    assert.equal(await store.countUsers(), 1);
  });

  test('updates only the patched fields and stamps updated_at', async () => {
    const store = await harness.fresh();
    const { auth_version: version } = await store.createUser(newUser('dave', { password_hash: null }));
    const updated = await store.updateUser('DAVE', { name: 'Dave D', roles: ['admin'], disabled: true, last_login_at: T0 + 5, quotas: { a: 1 }, now: T0 + 10 });
    assert.ok(updated);
    assert.equal(updated.name, 'Dave D');
    assert.deepEqual(updated.roles, ['admin']);
    assert.equal(updated.disabled, true);
    assert.equal(updated.email, 'dave@example.org');
    assert.equal(updated.password_hash, null);
    assert.equal(updated.last_login_at, T0 + 5);
    assert.equal(updated.updated_at, T0 + 10);
    assert.equal(updated.created_at, T0);
    assert.equal(updated.auth_version, version);
    assert.deepEqual(await store.getUser('dave'), updated);
    const cleared = await store.updateUser('dave', { password_hash: null, disabled: false, now: T0 + 11 });
    assert.equal(cleared?.disabled, false);
    assert.equal(await store.updateUser('nobody', { name: 'x', now: T0 }), undefined);
  });

  test('end_sessions bumps auth_version, deletes the sessions and revokes the tokens of that user only', async () => {
    const store = await harness.fresh();
    const erin = await userFor(store, 'erin');
    const frank = await userFor(store, 'frank');
    await store.createSession(session('s-erin', 'erin', { auth_version: erin }));
    await store.createSession(session('s-frank', 'frank', { auth_version: frank }));
    await store.createToken(token('t-erin', 'Erin', { auth_version: erin }));
    await store.createToken(token('t-frank', 'frank', { auth_version: frank }));
    const plain = await store.updateUser('erin', { name: 'E', now: T0 + 1 });
    assert.equal(plain?.auth_version, erin);
    assert.ok(await store.getSession('s-erin'), 'a plain update keeps sessions');
    const ended = await store.updateUser('erin', { roles: ['support'], end_sessions: true, now: T0 + 2 });
    assert.equal(ended?.auth_version, erin + 1);
    assert.equal(await store.getSession('s-erin'), undefined);
    assert.equal((await store.getToken('t-erin'))?.revoked_at, T0 + 2);
    assert.ok(await store.getSession('s-frank'));
    assert.equal((await store.getToken('t-frank'))?.revoked_at, null);
  });

  test('deleting a user deletes its sessions and tokens', async () => {
    const store = await harness.fresh();
    const gina = await userFor(store, 'gina');
    await store.createSession(session('s-gina', 'gina', { auth_version: gina }));
    await store.createToken(token('t-gina', 'gina', { auth_version: gina }));
    assert.equal(await store.deleteUser('GINA'), true);
    assert.equal(await store.getUser('gina'), undefined);
    assert.equal(await store.getSession('s-gina'), undefined);
    assert.equal(await store.getToken('t-gina'), undefined);
    assert.equal(await store.deleteUser('gina'), false);
  });

  test('lists users filtered by q, role and source, ordered by name, with the total before paging', async () => {
    const store = await harness.fresh();
    await store.createUser(newUser('zed', { roles: ['admin'], email: 'z@corp.example' }));
    await store.createUser(newUser('Amy', { name: 'Amy Pond', source: 'ldap', roles: ['user', 'manager'] }));
    await store.createUser(newUser('bert', { name: 'Bert Müller', source: 'jwt:portal' }));
    await store.createUser(newUser('carl_x', { roles: ['superadmin'] }));
    await store.createUser(newUser('carlyx', { roles: ['admin', 'user'], disabled: true }));
    const all = await store.listUsers({ limit: 10, offset: 0 });
    assert.deepEqual(
      all.users.map((u) => u.username),
      ['Amy', 'bert', 'carl_x', 'carlyx', 'zed'],
    );
    assert.equal(all.total, 5);
    const page = await store.listUsers({ limit: 2, offset: 2 });
    assert.deepEqual(
      page.users.map((u) => u.username),
      ['carl_x', 'carlyx'],
    );
    assert.equal(page.total, 5);
    assert.deepEqual(
      (await store.listUsers({ q: 'POND', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['Amy'],
    );
    assert.deepEqual(
      (await store.listUsers({ q: 'CORP.EX', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['zed'],
    );
    assert.deepEqual(
      (await store.listUsers({ q: 'MÜLLER', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['bert'],
    );
    assert.deepEqual(
      (await store.listUsers({ q: 'carl_', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['carl_x'],
      '_ is literal',
    );
    assert.deepEqual((await store.listUsers({ q: '%', limit: 10, offset: 0 })).total, 0, '% is literal');
    const admins = await store.listUsers({ role: 'admin', limit: 10, offset: 0 });
    assert.deepEqual(
      admins.users.map((u) => u.username),
      ['carlyx', 'zed'],
      'role is exact membership',
    );
    assert.deepEqual(
      (await store.listUsers({ source: 'ldap', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['Amy'],
    );
    assert.deepEqual(
      (await store.listUsers({ source: 'jwt:portal', role: 'user', limit: 10, offset: 0 })).users.map((u) => u.username),
      ['bert'],
    );
    const paged = await store.listUsers({ q: 'CARL', limit: 1, offset: 1 });
    assert.deepEqual([paged.users.map((u) => u.username), paged.total], [['carlyx'], 2]);
    assert.equal(await store.countUsers(), 5);
    assert.equal(await store.countEnabledAdmins(), 1);
  });

  test('stores, touches and deletes sessions', async () => {
    const store = await harness.fresh();
    const hank = await userFor(store, 'hank');
    const ivy = await userFor(store, 'ivy');
    await store.createSession(session('s1', 'Hank', { method: 'basic', auth_version: hank }));
    await store.createSession(session('s2', 'hank', { auth_version: hank }));
    await store.createSession(session('s3', 'ivy', { auth_version: ivy }));
    assert.deepEqual(await store.getSession('s1'), session('s1', 'Hank', { method: 'basic', auth_version: hank }));
    await store.touchSession('s1', T0 + 500);
    assert.equal((await store.getSession('s1'))?.last_seen_at, T0 + 500);
    await store.touchSession('s1', T0 + 100);
    assert.equal((await store.getSession('s1'))?.last_seen_at, T0 + 500, 'touch never moves last_seen_at back');
    await store.deleteSession('s3');
    assert.equal(await store.getSession('s3'), undefined);
    assert.equal(await store.deleteSessionsOfUser('HANK'), 2);
    assert.equal(await store.getSession('s1'), undefined);
    assert.equal(await store.getSession('missing'), undefined);
  });

  test('stores, finds, lists, touches and revokes API tokens', async () => {
    const store = await harness.fresh();
    const jack = await userFor(store, 'jack');
    await store.createToken(token('t1', 'Jack', { kind: 'jwt', created_at: T0, auth_version: jack }));
    await store.createToken(token('t2', 'jack', { created_at: T0 + 1, auth_version: jack }));
    await store.createToken(token('t3', 'kim', { auth_version: await userFor(store, 'kim') }));
    assert.deepEqual(await store.getTokenByHash('hash-t1'), token('t1', 'Jack', { kind: 'jwt', auth_version: jack }));
    assert.equal(await store.getTokenByHash('hash-none'), undefined);
    assert.deepEqual(
      (await store.listTokens('JACK')).map((t) => t.id),
      ['t2', 't1'],
    );
    assert.equal((await store.listTokens()).length, 3);
    await store.touchToken('t1', T0 + 50);
    assert.equal((await store.getToken('t1'))?.last_used_at, T0 + 50);
    assert.equal(await store.revokeToken('t1', T0 + 60), true);
    assert.equal(await store.revokeToken('t1', T0 + 70), false, 'already revoked');
    assert.equal((await store.getToken('t1'))?.revoked_at, T0 + 60);
    assert.equal(await store.revokeToken('nope', T0), false);
    assert.equal(await store.revokeTokensOfUser('jack', T0 + 80), 1);
    assert.equal((await store.getToken('t2'))?.revoked_at, T0 + 80);
    assert.equal((await store.getToken('t3'))?.revoked_at, null);
  });

  test("stores a token's scope and read_only and reads them back; unscoped tokens read back as null and false", async () => {
    const store = await harness.fresh();
    const lena = await userFor(store, 'lena');
    const scope = [
      { paths: ['/api/**', '/.auth/api/me'], methods: ['GET'] },
      { paths: ['/api/reports/*'], methods: [] },
    ];
    await store.createToken(token('t-scoped', 'lena', { auth_version: lena, scope, read_only: true }));
    await store.createToken(token('t-plain', 'lena', { auth_version: lena, created_at: T0 + 1 }));
    assert.deepEqual(await store.getToken('t-scoped'), token('t-scoped', 'lena', { auth_version: lena, scope, read_only: true }));
    assert.deepEqual((await store.getTokenByHash('hash-t-scoped'))?.scope, scope);
    const plain = await store.getToken('t-plain');
    assert.equal(plain?.scope, null);
    assert.equal(plain?.read_only, false);
    assert.deepEqual(
      (await store.listTokens('lena')).map((t) => [t.id, t.scope?.length ?? null, t.read_only]),
      [
        ['t-plain', null, false],
        ['t-scoped', 2, true],
      ],
    );
  });

  test('refuses a token past maxActive with a conflict: any spelling of the name, revoked and expired tokens not counted', async () => {
    const store = await harness.fresh();
    const lena = await userFor(store, 'Lena');
    const mo = await userFor(store, 'mo');
    await store.createToken(token('a1', 'Lena', { auth_version: lena, expires_at: T0 + 1000 }), { maxActive: 3 });
    await store.createToken(token('a2', 'lena', { auth_version: lena, expires_at: T0 + 2000 }), { maxActive: 3 });
    await store.createToken(token('a3', 'LENA', { auth_version: lena, kind: 'jwt', expires_at: T0 + 3000 }), { maxActive: 3 });
    await store.createToken(token('m1', 'mo', { auth_version: mo }), { maxActive: 1 }); // lena's tokens are not mo's
    const full = (err: unknown): boolean => err instanceof PortcullisError && err.code === 'conflict' && /at most 3 active API tokens; revoke one/.test(err.message);
    await assert.rejects(store.createToken(token('a4', 'Lena', { auth_version: lena }), { maxActive: 3 }), full);
    assert.equal(await store.getToken('a4'), undefined, 'a refused token is not stored');
    await assert.rejects(store.createToken(token('m2', 'MO', { auth_version: mo }), { maxActive: 1 }), isConflict, 'MO is mo');
    await store.createToken(token('a4', 'Lena', { auth_version: lena }), { maxActive: 4 });
    await store.createToken(token('a5', 'Lena', { auth_version: lena }), {});
    await store.createToken(token('a6', 'Lena', { auth_version: lena }));
    assert.equal((await store.listTokens('lena')).length, 6, 'without maxActive there is no cap');
    await store.revokeToken('a6', T0);
    await store.revokeToken('a5', T0);
    await store.revokeToken('a4', T0);
    await assert.rejects(store.createToken(token('b1', 'Lena', { auth_version: lena }), { maxActive: 3 }), isConflict);
    await store.revokeToken('a3', T0);
    await store.createToken(token('b1', 'Lena', { auth_version: lena }), { maxActive: 3 });
    await assert.rejects(store.createToken(token('b2', 'Lena', { auth_version: lena, created_at: T0 + 999 }), { maxActive: 3 }), isConflict);
    await store.createToken(token('b2', 'Lena', { auth_version: lena, created_at: T0 + 1000 }), { maxActive: 3 });
    assert.ok(await store.getToken('b2'), 'a token is expired from its expires_at on: a1 no longer counts');
  });

  test('keeps only the newest maxActive revoked tokens of a user when it adds one, so create-and-revoke cannot grow its rows', async () => {
    const store = await harness.fresh();
    const kim = await userFor(store, 'kim');
    const other = await userFor(store, 'ola');
    await store.createToken(token('o1', 'ola', { auth_version: other }));
    await store.revokeToken('o1', T0);
    for (let i = 1; i <= 6; i++) {
      await store.createToken(token(`k${i}`, 'kim', { auth_version: kim }), { maxActive: 2 });
      await store.revokeToken(`k${i}`, T0 + i);
    }
    await store.createToken(token('k7', 'kim', { auth_version: kim }), { maxActive: 2 });
    const left = (await store.listTokens('kim')).map((t) => t.id).sort();
    // k7 (active), and of the six revoked only the two revoked last.
    assert.deepEqual(left, ['k5', 'k6', 'k7']);
    assert.equal(await store.getToken('k1'), undefined);
    assert.ok(await store.getToken('o1'), "another user's revoked token stays");
  });

  stateContract(harness);
  guardsContract(harness);
  lockoutContract(harness);
  upstreamCredentialsContract(harness);
}

/**
 * Admin API guarantees under concurrency, on SQLite and PostgreSQL: two admins removing each
 * other never leave zero enabled admins, and a user recreated under a deleted name inherits
 * no session or token of its predecessor (also when they were minted during the delete).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PortcullisError } from '../../../src/errors/errors.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const ROUNDS = 15;

interface Answer {
  status: number;
  json: any;
}

async function call(gw: TestGateway, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await gw.fetch(`/.auth/api${path}`, {
    method,
    headers: { 'x-authentication': token, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function tokenOf(gw: TestGateway, username: string, password: string): Promise<string> {
  const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(res.status, 201, `token of ${username}`);
  return ((await res.json()) as { token: string }).token;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`admin guards on ${dialect}`, () => {
    let storeUrl: string;
    let cleanup: () => Promise<void>;
    let gw: TestGateway;
    let admin: string;

    before(async () => {
      if (dialect === 'postgres') {
        const db = await createTestDatabase();
        storeUrl = db.url;
        cleanup = () => db.drop();
      } else {
        const dir = mkdtempSync(join(tmpdir(), 'pcl-guards-'));
        storeUrl = `sqlite:${join(dir, 'store.db')}`;
        cleanup = async () => rmSync(dir, { recursive: true, force: true });
      }
      gw = await startGateway({ storeUrl });
      admin = await tokenOf(gw, 'admin', ADMIN_PASSWORD);
    });
    after(async () => {
      await gw?.close();
      await cleanup?.();
    });

    test('two admins disabling or deleting each other at once never leave zero enabled admins', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const name = `root${round}`;
        assert.equal((await call(gw, admin, 'POST', '/users', { username: name, password: 'Root-Passw0rd!', roles: ['admin'] })).status, 201);
        const root = await tokenOf(gw, name, 'Root-Passw0rd!');
        const rootActs = round % 2 === 0 ? call(gw, root, 'PATCH', '/users/admin', { disabled: true }) : call(gw, root, 'DELETE', '/users/admin');
        const [byAdmin, byRoot] = await Promise.all([call(gw, admin, 'PATCH', `/users/${name}`, round % 3 === 0 ? { roles: ['user'] } : { disabled: true }), rootActs]);
        const statuses = [byAdmin.status, byRoot.status];
        assert.equal(await gw.registry.store.countEnabledAdmins(), 1, `round ${round}: ${statuses.join(', ')}`);
        assert.equal(statuses.filter((s) => s === 200 || s === 204).length, 1, `round ${round}: exactly one change passes (${statuses.join(', ')})`);
        // The loser is refused by the guard (409), or, when the winner already ended its
        // credentials, before it got that far (401).
        for (const answer of [byAdmin, byRoot]) {
          if (answer.status === 409) {
            assert.equal(answer.json.error.code, 'last_admin');
          } else if (answer.status !== 200 && answer.status !== 204) assert.equal(answer.status, 401, JSON.stringify(answer.json));
        }
        // Put the pair back: the surviving admin removes the other.
        const left = await gw.registry.store.getUser('admin');
        if (!left || left.disabled) {
          if (left) await gw.registry.users.update('admin', { disabled: false }, { username: name });
          else await gw.registry.users.create({ username: 'admin', password: ADMIN_PASSWORD, roles: ['admin'] }, { username: name });
          admin = await tokenOf(gw, 'admin', ADMIN_PASSWORD);
        }
        assert.equal((await call(gw, admin, 'DELETE', `/users/${name}`)).status, 204);
      }
    });

    test('the same two changes through the user service at once: one passes, the other is a 409 last_admin', async () => {
      const users = gw.registry.users;
      for (let round = 0; round < ROUNDS; round++) {
        const a = `amy${round}`;
        const b = `ben${round}`;
        await users.create({ username: a, password: 'Amy-Passw0rd!', roles: ['admin'] }, { username: 'admin' });
        await users.create({ username: b, password: 'Ben-Passw0rd!', roles: ['admin'] }, { username: 'admin' });
        // Only a and b stay enabled admins for the race.
        await users.update('admin', { disabled: true }, { username: a });
        const ops =
          round % 2 === 0
            ? [() => users.update(a, { disabled: true }, { username: b }), () => users.update(b, { roles: ['user'] }, { username: a })]
            : [() => users.delete(a, { username: b }), () => users.delete(b, { username: a })];
        const results = await Promise.allSettled(ops.map((op) => op()));
        const refusals = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
        assert.equal(refusals.length, 1, `round ${round}`);
        assert.ok(refusals[0] instanceof PortcullisError && refusals[0].code === 'last_admin' && refusals[0].status === 409, String(refusals[0]));
        assert.equal(await gw.registry.store.countEnabledAdmins(), 1, `round ${round}`);
        const survivor = (await gw.registry.store.getUser(a))?.disabled === false && (await gw.registry.store.getUser(a))?.roles.includes('admin') ? a : b;
        await users.update('admin', { disabled: false }, { username: survivor });
        for (const name of [a, b]) if (await gw.registry.store.getUser(name)) await users.delete(name, { username: 'admin' });
      }
      admin = await tokenOf(gw, 'admin', ADMIN_PASSWORD);
    });

    test('a user recreated under a deleted name inherits neither the token nor the session of the old one', async () => {
      assert.equal((await call(gw, admin, 'POST', '/users', { username: 'bob', password: 'Bob-Passw0rd!', roles: ['user'] })).status, 201);
      const bobToken = await tokenOf(gw, 'bob', 'Bob-Passw0rd!');
      const bobCookie = await gw.login('bob', 'Bob-Passw0rd!');
      const probe = async (replica: TestGateway): Promise<number[]> => [
        (await replica.fetch('/.auth/me', { headers: { 'x-authentication': bobToken } })).status,
        (await replica.fetch('/.auth/me', { headers: { cookie: bobCookie } })).status,
      ];
      assert.deepEqual(await probe(gw), [200, 200]);
      assert.equal((await call(gw, admin, 'DELETE', '/users/bob')).status, 204);
      assert.equal((await call(gw, admin, 'POST', '/users', { username: 'Bob', password: 'New-Owner-Passw0rd!', roles: ['user'] })).status, 201);
      assert.deepEqual(await probe(gw), [401, 401], 'refused at once');
      // A replica with empty caches (what this one is once its caches expire) refuses them too.
      const fresh = await startGateway({ storeUrl });
      try {
        assert.deepEqual(await probe(fresh), [401, 401], 'refused after the caches expire');
      } finally {
        await fresh.close();
      }
      assert.deepEqual((await call(gw, admin, 'GET', '/tokens?user=bob')).json.tokens, []);
      assert.equal((await call(gw, admin, 'DELETE', '/users/bob')).status, 204);
    });

    test('tokens and sessions minted while their user is deleted leave nothing usable for a recreated namesake', async () => {
      assert.equal((await call(gw, admin, 'POST', '/users', { username: 'cat', password: 'Cat-Passw0rd!', roles: ['user'] })).status, 201);
      const catToken = await tokenOf(gw, 'cat', 'Cat-Passw0rd!');
      const minted: string[] = [];
      const cookies: string[] = [];
      const burst = [
        ...Array.from({ length: 30 }, () =>
          call(gw, catToken, 'POST', '/tokens', { name: 'burst', expires_in: '30d' }).then((r) => {
            if (r.status === 201) minted.push(r.json.token);
            return r.status;
          }),
        ),
        ...Array.from({ length: 10 }, () =>
          gw.login('cat', 'Cat-Passw0rd!').then(
            (cookie) => cookies.push(cookie),
            () => undefined,
          ),
        ),
      ];
      await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await call(gw, admin, 'DELETE', '/users/cat')).status, 204);
      const statuses = await Promise.all(burst);
      for (const status of statuses) if (typeof status === 'number') assert.ok(status === 201 || status === 401, `token creation answered ${status}`);
      assert.deepEqual(await gw.registry.store.listTokens('cat'), [], 'no token row outlives its user');
      assert.equal((await call(gw, admin, 'POST', '/users', { username: 'cat', password: 'Other-Passw0rd!', roles: ['user'] })).status, 201);
      const fresh = await startGateway({ storeUrl });
      try {
        for (const token of [catToken, ...minted]) assert.equal((await fresh.fetch('/.auth/me', { headers: { 'x-authentication': token } })).status, 401);
        for (const cookie of cookies) assert.equal((await fresh.fetch('/.auth/me', { headers: { cookie } })).status, 401);
      } finally {
        await fresh.close();
      }
      assert.deepEqual((await call(gw, admin, 'GET', '/tokens?user=cat')).json.tokens, []);
    });
  });
}

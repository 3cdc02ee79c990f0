import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { countHashing } from '../../helpers/hash-counter.js';

// Each guess comes from its own client address (the test is the trusted proxy in front of both
// replicas): one address alone is held to its share of a replica's login slots, before the lockout.
const json = (body: unknown, client = 0): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-forwarded-for': `198.51.100.${client + 1}` },
  body: JSON.stringify(body),
});

describe('password guessing at two replicas on one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestGateway;
  let b: TestGateway;
  /** Verifications against stored hashes (evaluated guesses) and dummy ones, summed over both replicas' hashers. */
  const calls = { verify: 0, dummy: 0 };

  before(async () => {
    db = await createTestDatabase();
    const config = { server: { trusted_proxies: ['127.0.0.1/32'] }, users: { password_hash_cost: 12, lockout: { max_failures: 5, window: '15m', duration: '15m' } } };
    a = await startGateway({ storeUrl: db.url, config });
    b = await startGateway({ storeUrl: db.url, config });
    await a.registry.users.create({ username: 'victim', password: 'Victim-Passw0rd1', roles: ['user'] }, undefined);
    countHashing(a, calls);
    countHashing(b, calls);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const failuresOf = (reason: string): number => [...a.events, ...b.events].filter((e) => e.event === 'UserLoginFailed' && e.username === 'victim' && e.reason === reason).length;

  async function until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise((r) => setTimeout(r, 1));
  }

  test('30 concurrent wrong logins split across both replicas evaluate at most max_failures guesses in total, and the right password is refused', async () => {
    calls.verify = 0;
    calls.dummy = 0;
    const wrong = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).fetch('/.auth/login', json({ username: 'victim', password: `Wrong-guess${i}` }, i)));
    // Once max_failures guesses are reserved in the store, neither replica evaluates another.
    await until(() => calls.verify >= 5);
    const right = await Promise.all([a, b].map((gw, i) => gw.fetch('/.auth/login', json({ username: 'victim', password: 'Victim-Passw0rd1' }, 100 + i))));
    assert.deepEqual(
      right.map((r) => r.status),
      [401, 401],
    );
    const statuses = await Promise.all(wrong.map(async (r) => (await r).status));
    assert.deepEqual([...new Set(statuses)], [401]);
    assert.ok(calls.verify <= 5, `${calls.verify} guesses were verified across both replicas`);
    assert.equal(calls.verify + calls.dummy, 32, 'every login, refused or not, spent one verification');
    assert.ok(failuresOf('bad_password') <= 5);
    assert.ok(failuresOf('locked_out') >= 27);
    for (const gw of [a, b]) assert.equal((await gw.fetch('/.auth/login', json({ username: 'victim', password: 'Victim-Passw0rd1' }))).status, 401);
    assert.ok(calls.verify <= 5);
    assert.ok(((await a.registry.store.getLockout('victim')) ?? 0) > Date.now(), 'the store holds the lockout for both replicas');
  });
});

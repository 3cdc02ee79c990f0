import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { countHashing } from '../../helpers/hash-counter.js';

// Each guess comes from its own client address (the test is the trusted proxy in front of the
// gateway): one address alone is held to its share of the login slots, before the lockout.
const from = (client: number): Record<string, string> => ({ 'x-forwarded-for': `198.51.100.${client + 1}` });
const json = (body: unknown, client = 0): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json', ...from(client) }, body: JSON.stringify(body) });
const basic = (u: string, p: string, client = 0): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64'), ...from(client) } });

describe('password guessing through the gateway', () => {
  let gw: TestGateway;
  /** Verifications against stored hashes (evaluated guesses) and dummy verifications, counted on the gateway's own hasher. */
  const calls = { verify: 0, dummy: 0 };

  before(async () => {
    gw = await startGateway({ config: { server: { trusted_proxies: ['127.0.0.1/32'] }, users: { password_hash_cost: 12, lockout: { max_failures: 5, window: '15m', duration: '15m' } } } });
    await gw.registry.users.create({ username: 'victim', password: 'Victim-Passw0rd1', roles: ['user'] }, undefined);
    await gw.registry.users.create({ username: 'victim2', password: 'Victim-Passw0rd1', roles: ['user'] }, undefined);
    countHashing(gw, calls);
  });
  after(() => gw?.close());

  const failuresOf = (username: string, reason: string): number => gw.events.filter((e) => e.event === 'UserLoginFailed' && e.username === username && e.reason === reason).length;

  async function until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise((r) => setTimeout(r, 1));
  }

  test('30 concurrent wrong logins evaluate at most max_failures guesses, and the right password is refused as locked out', async () => {
    calls.verify = 0;
    const wrong = Array.from({ length: 30 }, (_, i) => gw.fetch('/.auth/login', json({ username: 'victim', password: `Wrong-guess${i}` }, i)));
    // Once max_failures guesses are in flight (or counted), the name's budget is spent.
    await until(() => calls.verify >= 5);
    const right = await gw.fetch('/.auth/login', json({ username: 'victim', password: 'Victim-Passw0rd1' }, 100));
    assert.equal(right.status, 401);
    assert.match(await right.text(), /Invalid username or password/);
    const statuses = await Promise.all(wrong.map(async (r) => (await r).status));
    assert.deepEqual([...new Set(statuses)], [401]);
    assert.ok(calls.verify <= 5, `${calls.verify} guesses were verified`);
    assert.ok(failuresOf('victim', 'bad_password') <= 5);
    assert.ok(failuresOf('victim', 'locked_out') >= 26);
    assert.equal((await gw.fetch('/.auth/login', json({ username: 'victim', password: 'Victim-Passw0rd1' }))).status, 401);
    assert.ok(calls.verify <= 5);
  });

  test('concurrent Basic guesses are held to the same budget', async () => {
    calls.verify = 0;
    const guesses = Array.from({ length: 20 }, (_, i) => gw.fetch('/x', basic('victim2', `Wrong-guess${i}`, i)));
    await until(() => calls.verify >= 5);
    assert.equal((await gw.fetch('/x', basic('victim2', 'Victim-Passw0rd1', 100))).status, 401);
    await Promise.all(guesses);
    assert.ok(calls.verify <= 5, `${calls.verify} guesses were verified`);
  });

  test('unknown names, empty passwords and wrong passwords each cost one verification', async () => {
    for (const [username, password] of [
      ['admin', ''],
      ['nosuch', ''],
      ['admin', 'Wrong-Passw0rd1'],
      ['nosuch', 'Wrong-Passw0rd1'],
    ] as const) {
      calls.verify = 0;
      calls.dummy = 0;
      const res = await gw.fetch('/.auth/login', json({ username, password }));
      assert.equal(res.status, 401);
      assert.equal(calls.verify + calls.dummy, 1, `${username}/${JSON.stringify(password)}`);
    }
  });
});

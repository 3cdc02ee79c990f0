/**
 * The session cache must never outlive what the store says: a logout racing a store read must
 * not put the ended session back, and a session in use must not look idle because last-seen is
 * written back only now and then.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

let now = Date.now();
let gw: TestGateway;
let shortIdle: TestGateway;

before(async () => {
  gw = await startGateway();
  await gw.registry.users.create({ username: 'alice', password: 'Alice-Passw0rd', roles: ['user'] }, undefined);
  shortIdle = await startGateway({ now: () => now, config: { session: { idle_timeout: '30s', max_lifetime: '1h' } } });
  await shortIdle.registry.users.create({ username: 'alice', password: 'Alice-Passw0rd', roles: ['user'] }, undefined);
});
after(async () => {
  await gw?.close();
  await shortIdle?.close();
});

/**
 * Runs `request` so that its first store read `method` happens before `change` and its answer
 * arrives after it (a deterministic overlap), then waits for the request to finish.
 */
async function overlapping(method: 'getSession' | 'getTokenByHash', request: () => Promise<unknown>, change: () => Promise<void>): Promise<void> {
  const store = gw.registry.store as unknown as Record<string, (key: string) => Promise<unknown>>;
  const original = store[method] as (key: string) => Promise<unknown>;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let slowed = false;
  store[method] = async (key: string) => {
    const row = await original.call(gw.registry.store, key);
    if (!slowed) {
      slowed = true;
      await gate;
    }
    return row;
  };
  try {
    const inFlight = request();
    while (!slowed) await new Promise((r) => setTimeout(r, 5));
    await change();
    release();
    await inFlight;
  } finally {
    store[method] = original;
  }
}

test('a session read from the store while it is being logged out is not put back into the cache', async () => {
  const cookie = await gw.login('alice', 'Alice-Passw0rd');
  // As on a replica that has not seen this session yet, or after the cache's TTL.
  gw.registry.sessions.forgetAll();
  await overlapping(
    'getSession',
    () => gw.fetch('/x', { headers: { cookie } }),
    async () => {
      assert.equal((await gw.fetch('/.auth/logout', { method: 'POST', headers: { cookie } })).status, 204);
    },
  );
  assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401, 'the session still worked after logout');
});

test('a session used every 20 s survives an idle timeout of 30 s', async () => {
  const cookie = await shortIdle.login('alice', 'Alice-Passw0rd');
  for (let i = 1; i <= 4; i++) {
    now += 20_000;
    assert.equal((await shortIdle.fetch('/x', { headers: { cookie } })).status, 200, `request ${i}, ${i * 20} s after login`);
  }
});

test('a session left alone for longer than an idle timeout of 30 s ends', async () => {
  const cookie = await shortIdle.login('alice', 'Alice-Passw0rd');
  now += 31_000;
  assert.equal((await shortIdle.fetch('/x', { headers: { cookie } })).status, 401);
});

test('an API token read from the store while it is being revoked is not put back into the cache', async () => {
  const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'Alice-Passw0rd' }) });
  const { token, id } = (await res.json()) as { token: string; id: string };
  gw.registry.tokens.forgetAll();
  await overlapping(
    'getTokenByHash',
    () => gw.fetch('/x', { headers: { 'x-authentication': token } }),
    async () => {
      assert.equal((await gw.fetch(`/.auth/api/tokens/${id}`, { method: 'DELETE', headers: { 'x-authentication': token } })).status, 204);
    },
  );
  assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': token } })).status, 401, 'the revoked token still worked');
});

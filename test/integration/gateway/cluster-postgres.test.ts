import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';

/** Polls until `check` is true or `ms` passed; returns the time it took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('two replicas on one PostgreSQL database', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestGateway;
  let b: TestGateway;
  const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });

  before(async () => {
    db = await createTestDatabase();
    a = await startGateway({ storeUrl: db.url });
    b = await startGateway({ storeUrl: db.url });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  test('both replicas share one bootstrap admin and one signing key', async () => {
    assert.equal((await a.fetch('/x', basic('admin', ADMIN_PASSWORD))).status, 200);
    assert.equal((await b.fetch('/x', basic('admin', ADMIN_PASSWORD))).status, 200);
    const ka = (await (await a.fetch('/.auth/jwks.json')).json()) as { keys: Array<{ kid: string }> };
    const kb = (await (await b.fetch('/.auth/jwks.json')).json()) as { keys: Array<{ kid: string }> };
    assert.deepEqual(
      ka.keys.map((k) => k.kid),
      kb.keys.map((k) => k.kid),
    );
    assert.equal(ka.keys.length, 1);
  });

  test('a session made on one replica works on the other and a disable on either ends it within 1 second', async () => {
    await a.registry.users.create({ username: 'dora', password: 'Dora-Passw0rd1', roles: ['user'] }, undefined);
    const cookie = await a.login('dora', 'Dora-Passw0rd1');
    assert.equal((await a.fetch('/x', { headers: { cookie } })).status, 200);
    assert.equal((await b.fetch('/x', { headers: { cookie } })).status, 200);
    await b.registry.users.update('dora', { disabled: true }, { username: 'admin' });
    const took = await within(1000, async () => (await a.fetch('/x', { headers: { cookie } })).status === 401);
    assert.ok(took <= 1000, `replica A still accepted the session after ${took} ms`);
  });

  test('a role change on one replica reaches the identity headers of the other within 1 second', async () => {
    await a.registry.users.create({ username: 'eve', password: 'Eve-Passw0rd1', roles: ['user'] }, undefined);
    const creds = basic('eve', 'Eve-Passw0rd1');
    const seen = async (gw: TestGateway): Promise<string | undefined> => ((await (await gw.fetch('/x', creds)).json()) as { headers: Record<string, string> }).headers['x-auth-roles'];
    assert.equal(await seen(a), 'user');
    await b.registry.users.update('eve', { roles: ['user', 'manager'] }, { username: 'admin' });
    const took = await within(1000, async () => (await seen(a)) === 'manager,user');
    assert.ok(took <= 1000, `replica A still showed the old roles after ${took} ms`);
  });

  test('lockout counts failures across replicas', async () => {
    await a.registry.users.create({ username: 'finn', password: 'Finn-Passw0rd1', roles: ['user'] }, undefined);
    for (let i = 0; i < 5; i++) await (i % 2 === 0 ? a : b).fetch('/x', basic('finn', 'wrong'));
    assert.equal((await a.fetch('/x', basic('finn', 'Finn-Passw0rd1'))).status, 401);
    assert.equal((await b.fetch('/x', basic('finn', 'Finn-Passw0rd1'))).status, 401);
  });
});

/**
 * SPEC 8: the last-admin rule holds under concurrency. Two replicas (two gateways, each with its
 * own registry and store pool) on one fresh PostgreSQL database; the only two enabled admins,
 * alice on replica A and bob on replica B, demote, disable and delete each other at the same
 * moment, round after round. Whatever the interleaving, exactly one of each pair succeeds and an
 * enabled admin is left. The other is refused: 409 last_admin when it was authorised before the
 * winner's change committed, else 403/401 because that change had already taken its admin role,
 * its account or its record (Basic credentials: no token to be revoked by the change).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const ROUNDS = 50;
const PASSWORDS: Record<string, string> = { alice: 'Alice-Passw0rd1', bob: 'Bob-Passw0rd1' };

interface Answer {
  status: number;
  code: string | undefined;
}

describe('two admins removing each other on two replicas', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let a: TestGateway;
  let b: TestGateway;

  /** An API call as `username` (Basic) on `gw`. */
  const call = async (gw: TestGateway, username: string, method: string, path: string, body?: unknown): Promise<Answer> => {
    const headers: Record<string, string> = { authorization: 'Basic ' + Buffer.from(`${username}:${PASSWORDS[username]}`).toString('base64') };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await gw.fetch(`/.auth/api${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.text();
    const json = text ? (JSON.parse(text) as { error?: { code?: string } }) : undefined;
    return { status: res.status, code: json?.error?.code };
  };

  /** Alice on A and Bob on B act on each other at once; returns both answers and who won. */
  const race = async (method: string, pathOf: (other: string) => string, body?: unknown): Promise<{ answers: Answer[]; winner: string; loser: string }> => {
    const answers = await Promise.all([call(a, 'alice', method, pathOf('bob'), body), call(b, 'bob', method, pathOf('alice'), body)]);
    const ok = answers.map((x) => x.status >= 200 && x.status < 300);
    assert.equal(ok.filter(Boolean).length, 1, `exactly one of the pair succeeds: ${JSON.stringify(answers)}`);
    const loserAnswer = answers[ok[0] ? 1 : 0] as Answer;
    const refusal = loserAnswer.code === 'last_admin' ? 409 : loserAnswer.status;
    assert.ok([409, 403, 401].includes(refusal) && (loserAnswer.status !== 409 || loserAnswer.code === 'last_admin'), `the other is refused: ${JSON.stringify(answers)}`);
    assert.equal(await a.registry.store.countEnabledAdmins(), 1, 'one enabled admin is left');
    return ok[0] ? { answers, winner: 'alice', loser: 'bob' } : { answers, winner: 'bob', loser: 'alice' };
  };

  /** Counts the rounds whose refusal was the store's (or the service's) last_admin. */
  const lastAdmins = (answers: Answer[]): number => answers.filter((x) => x.code === 'last_admin').length;

  before(async () => {
    db = await createTestDatabase();
    a = await startGateway({ storeUrl: db.url });
    b = await startGateway({ storeUrl: db.url });
    for (const name of ['alice', 'bob']) await a.registry.users.create({ username: name, password: PASSWORDS[name], roles: ['admin'] }, undefined);
    // The bootstrap admin steps down: alice and bob are the last two enabled admins.
    assert.equal((await a.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') } })).status, 200);
    await a.registry.users.update('admin', { roles: ['user'] }, { username: 'alice' });
    assert.equal(await a.registry.store.countEnabledAdmins(), 2);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  const winnerGateway = (winner: string): TestGateway => (winner === 'alice' ? a : b);

  test(`demoting each other at once ${ROUNDS} times never leaves zero enabled admins`, async () => {
    let refusedByGuard = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { answers, winner, loser } = await race('PATCH', (other) => `/users/${other}`, { roles: ['user'] });
      refusedByGuard += lastAdmins(answers);
      assert.equal((await call(winnerGateway(winner), winner, 'PATCH', `/users/${loser}`, { roles: ['admin'] })).status, 200, 're-promoted');
    }
    assert.ok(refusedByGuard > 0, 'at least one round raced into the last-admin guard');
  });

  test(`disabling each other at once ${ROUNDS} times never leaves zero enabled admins`, async () => {
    let refusedByGuard = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { answers, winner, loser } = await race('PATCH', (other) => `/users/${other}`, { disabled: true });
      refusedByGuard += lastAdmins(answers);
      assert.equal((await call(winnerGateway(winner), winner, 'PATCH', `/users/${loser}`, { disabled: false })).status, 200, 're-enabled');
    }
    assert.ok(refusedByGuard > 0, 'at least one round raced into the last-admin guard');
  });

  test(`deleting each other at once ${ROUNDS} times never leaves zero enabled admins`, async () => {
    let refusedByGuard = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { answers, winner, loser } = await race('DELETE', (other) => `/users/${other}`);
      refusedByGuard += lastAdmins(answers);
      const recreated = await call(winnerGateway(winner), winner, 'POST', '/users', { username: loser, password: PASSWORDS[loser], roles: ['admin'] });
      assert.equal(recreated.status, 201, 're-created');
    }
    // A deleted admin's own request usually fails its authentication (401) before it reaches the
    // guard, so how many rounds the guard decided varies from run to run (0–40 of 50 seen): the
    // property asserted is the one above, in every round. The count is reported, not asserted.
    process.stdout.write(`# deleting each other: ${refusedByGuard} of ${ROUNDS} rounds refused by the last-admin guard\n`);
  });
});

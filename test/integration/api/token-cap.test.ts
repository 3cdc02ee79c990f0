/**
 * POST /.auth/api/tokens and POST /.auth/token (SPEC 8): a user holds at most 100 active (unrevoked, unexpired) API
 * tokens, its CLI login tokens included; one more is refused with 409 conflict naming the cap,
 * also when the requests arrive at once, and also when an admin mints it with `?user=`.
 * Revoking a token frees its place. On SQLite and on PostgreSQL (where concurrent requests
 * really interleave between the count and the insert).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { apiCall, tokenOf as tokenOfUser, type ApiAnswer } from '../../helpers/api.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const CAP = 100;
let gw: TestGateway;
let admin: string;
let mallory: string;

const call = (token: string, method: string, path: string, body?: unknown): Promise<ApiAnswer> => apiCall(gw, token, method, path, body, 'bearer');
const tokenOf = (username: string, password: string): Promise<string> => tokenOfUser(gw, username, password);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`on ${dialect}`, () => {
    let db: { url: string; drop(): Promise<void> } | undefined;

    before(async () => {
      db = dialect === 'postgres' ? await createTestDatabase() : undefined;
      gw = await startGateway(db ? { storeUrl: db.url } : {});
      admin = await tokenOf('admin', ADMIN_PASSWORD);
      assert.equal((await call(admin, 'POST', '/users', { username: 'mallory', password: 'Mallory-Passw0rd', roles: ['user'] })).status, 201);
      mallory = await tokenOf('mallory', 'Mallory-Passw0rd');
    });
    after(async () => {
      await gw?.close();
      await db?.drop();
    });

    test('a user with role user cannot hold more than 100 active API tokens, even minting them concurrently', async () => {
      const attempts = 160;
      let next = 0;
      const statuses: number[] = [];
      let refusal: any;
      const worker = async (): Promise<void> => {
        while (next < attempts) {
          next++;
          const answer = await call(mallory, 'POST', '/tokens', { name: 'x'.repeat(128), expires_in: '366d' });
          statuses.push(answer.status);
          if (answer.status !== 201) refusal ??= answer;
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      // The login token from POST /.auth/token is one of the hundred.
      assert.equal(statuses.filter((s) => s === 201).length, CAP - 1);
      assert.equal(statuses.filter((s) => s === 409).length, attempts - (CAP - 1));
      assert.equal(refusal.status, 409);
      assert.equal(refusal.json.error.code, 'conflict');
      assert.match(refusal.json.error.message, /at most 100 active API tokens/);
      const listed = await call(mallory, 'GET', '/tokens');
      assert.equal(listed.json.tokens.filter((t: { revoked_at: unknown }) => t.revoked_at === null).length, CAP);
      assert.equal(gw.events.filter((e) => e.event === 'TokenCreated' && e.username === 'mallory').length, CAP, 'the login token and the 99 created: a refused token emits no event');
    });

    test('an admin minting a token with ?user= counts against that user, not against the admin', async () => {
      const forMallory = await call(admin, 'POST', '/tokens?user=mallory', { name: 'from-admin' });
      assert.equal(forMallory.status, 409);
      assert.match(forMallory.json.error.message, /at most 100/);
      assert.equal((await call(admin, 'POST', '/tokens', { name: 'admin-own' })).status, 201);
    });

    test('revoking a token frees its place under the cap', async () => {
      const listed = await call(mallory, 'GET', '/tokens');
      // Not the token mallory authenticates with: that one is the login token, listed last (oldest).
      const own = (listed.json.tokens as { id: string }[]).at(-1)?.id;
      const revoked = (listed.json.tokens as { id: string; revoked_at: unknown }[]).find((t) => t.revoked_at === null && t.id !== own);
      assert.ok(revoked);
      assert.equal((await call(mallory, 'DELETE', `/tokens/${revoked.id}`)).status, 204);
      assert.equal((await call(mallory, 'POST', '/tokens', { name: 'one-more' })).status, 201);
      assert.equal((await call(mallory, 'POST', '/tokens', { name: 'and-another' })).status, 409);
    });

    test('a login for a token (POST /.auth/token, as the CLI does) is held to the same cap', async () => {
      const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mallory', password: 'Mallory-Passw0rd' }) });
      assert.equal(res.status, 409);
      assert.match(((await res.json()) as { error: { message: string } }).error.message, /at most 100 active API tokens/);
    });
  });
}

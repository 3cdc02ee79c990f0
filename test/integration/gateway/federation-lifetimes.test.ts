import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const MIN = 60_000;

// What an external issuer vouches for must not outlive what the issuer allows: a hand-off jti is
// remembered as long as its token is accepted, and a federated user's API tokens live no longer
// than the issuer's max_token_lifetime (the gateway never learns of the issuer's revocations).
describe('federation: lifetimes bounded by the issuer', () => {
  let gw: TestGateway;
  let clock = Date.now();
  const token = (claims: Record<string, unknown>, lifetimeS: number): Promise<string> => {
    const now = Math.floor(clock / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://lab.example')
      .setAudience('portcullis')
      .setIssuedAt(now)
      .setExpirationTime(now + lifetimeS)
      .sign(new TextEncoder().encode(SECRET));
  };

  before(async () => {
    gw = await startGateway({
      now: () => clock,
      config: { jwt_issuers: [{ name: 'lab', issuer: 'https://lab.example', audience: 'portcullis', algorithms: ['HS256'], secret: SECRET, max_token_lifetime: '10m', clock_tolerance: '5m' }] },
    });
  });
  after(async () => gw?.close());

  test('a hand-off jti stays spent for as long as the clock tolerance still accepts its token, purge or not', async () => {
    const handoff = await token({ sub: 'handy', roles: ['user'], jti: 'once' }, 60);
    const post = (): Promise<Response> => gw.fetch('/.auth/jwt', { method: 'POST', headers: { authorization: `Bearer ${handoff}` } });
    assert.equal((await post()).status, 303);
    assert.equal((await post()).status, 401, 'replayed at once');
    clock += 90_000; // 30 s past exp, inside the 5 min tolerance
    await gw.registry.store.purge(clock, clock - 86_400_000); // the periodic purge running now
    assert.equal((await post()).status, 401, 'replayed after the purge, while the token is still accepted');
    assert.equal(gw.events.filter((e) => e.event === 'UserLoginFailed' && e.reason === 'replayed_token').length, 2);
  });

  test("a federated user's API token lives at most the issuer's max_token_lifetime", async () => {
    clock = Date.now();
    const bearer = { authorization: `Bearer ${await token({ sub: 'shorty', roles: ['user'] }, 300)}`, 'content-type': 'application/json' };
    const create = (body: unknown): Promise<Response> => gw.fetch('/.auth/api/tokens', { method: 'POST', headers: bearer, body: JSON.stringify(body) });

    const tooLong = await create({ name: 'keep', expires_in: '366d' });
    assert.equal(tooLong.status, 400);
    const problem = (await tooLong.json()) as { error: { fields: Record<string, string> } };
    assert.match(problem.error.fields.expires_in ?? '', /at most 10m .*lab/);

    const byDefault = await create({ name: 'default' });
    assert.equal(byDefault.status, 201);
    const { token: opaque, expires_at } = (await byDefault.json()) as { token: string; expires_at: string };
    assert.equal(Date.parse(expires_at), clock + 10 * MIN, "the default 30 days is cut to the issuer's 10 minutes");
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': opaque } })).status, 200);
    clock += 10 * MIN + 1000;
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': opaque } })).status, 401, "gone with the issuer's lifetime");

    const exact = await create({ name: 'short', expires_in: '5m' });
    assert.equal(exact.status, 401, 'the JWT itself has expired by now');
  });

  test('local users keep the usual token lifetimes', async () => {
    clock = Date.now();
    const admin = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'), 'content-type': 'application/json' };
    const res = await gw.fetch('/.auth/api/tokens', { method: 'POST', headers: admin, body: JSON.stringify({ name: 'long', expires_in: '366d' }) });
    assert.equal(res.status, 201);
    assert.equal(Date.parse(((await res.json()) as { expires_at: string }).expires_at), clock + 366 * 86_400_000);
  });
});

/**
 * Per-user upstream credentials (SPEC 15) on two replicas of one PostgreSQL database: a PUT or
 * DELETE through gateway B reaches what gateway A sends upstream within a second, whichever
 * way the caller authenticates (Basic, session cookie, API token: each has its own cache).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { createTestDatabase } from '../../helpers/postgres.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > ms) return Number.POSITIVE_INFINITY;
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('per-user upstream credentials changed on another replica', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let upstream: Upstream;
  let a: TestGateway;
  let b: TestGateway;
  const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  const basic = 'Basic ' + Buffer.from('gwen:Gwen-Passw0rd1').toString('base64');

  const put = (value: string) =>
    b.fetch('/.auth/api/users/gwen/upstream-credentials/gmt', {
      method: 'PUT',
      headers: { authorization: admin, 'content-type': 'application/json', 'x-requested-with': 'portcullis' },
      body: JSON.stringify({ value }),
    });
  const remove = () => b.fetch('/.auth/api/users/gwen/upstream-credentials/gmt', { method: 'DELETE', headers: { authorization: admin, 'x-requested-with': 'portcullis' } });
  /** What A sends GMT for this caller: the header, or the status when it forwards nothing. */
  async function sent(headers: Record<string, string>): Promise<string> {
    const before = upstream.received.length;
    const response = await a.fetch('/v1/x', { headers });
    await response.arrayBuffer();
    if (upstream.received.length === before) return `status ${response.status}`;
    return String(upstream.last().headers['x-authentication']);
  }

  before(async () => {
    db = await createTestDatabase();
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-cluster-cred-'));
    const keyFile = join(dir, 'secret.key');
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`);
    const config = {
      server: { listen: '127.0.0.1:0', public_url: 'http://localhost', secret_key_file: keyFile },
      routes: [{ name: 'gmt', path_prefix: '/', upstream: upstream.url, upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true } }],
    };
    a = await startGateway({ storeUrl: db.url, config });
    b = await startGateway({ storeUrl: db.url, config });
    await a.registry.users.create({ username: 'gwen', password: 'Gwen-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await upstream?.close();
    await db?.drop();
  });

  test('a PUT and a DELETE through B reach A within 1 second, for Basic, session and token callers', async () => {
    const cookie = await a.login('gwen', 'Gwen-Passw0rd1');
    const created = await a.fetch('/.auth/api/tokens', {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json', 'x-requested-with': 'portcullis' },
      body: JSON.stringify({ name: 'ci' }),
    });
    const token = ((await created.json()) as { token: string }).token;
    const callers = { basic: { authorization: basic }, session: { cookie }, token: { authorization: `Bearer ${token}` } };
    assert.equal((await put('first-token')).status, 204);
    for (const [name, headers] of Object.entries(callers)) {
      const took = await within(1000, async () => (await sent(headers)) === 'first-token');
      assert.ok(took <= 1000, `${name}: A did not use the first value after ${took} ms`);
    }
    // Every caller has just used the value on A (and cached what it could): now change it on B.
    assert.equal((await put('second-token')).status, 204);
    for (const [name, headers] of Object.entries(callers)) {
      const took = await within(1000, async () => (await sent(headers)) === 'second-token');
      assert.ok(took <= 1000, `${name}: A still sent the old value after ${took} ms`);
    }
    assert.equal((await remove()).status, 204);
    for (const [name, headers] of Object.entries(callers)) {
      const took = await within(1000, async () => (await sent(headers)) === 'status 403');
      assert.ok(took <= 1000, `${name}: A still sent a deleted value after ${took} ms`);
    }
  });
});

/**
 * SPEC 7: a revocation applies on every replica within 1 second, also while a replica's LISTEN
 * connection is down (the database refuses new connections: a failover, max_connections) and
 * while it is coming back. Two gateways share one PostgreSQL database; their pooled
 * connections stay open, only the LISTEN connections are killed and kept out.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { adminDatabaseUrl, createTestDatabase, terminateConnections } from '../../helpers/postgres.js';

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let dbName: string;
let a: TestGateway;
let b: TestGateway;
let admin: string;

async function adminSql(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminDatabaseUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function tokenOf(gw: TestGateway, username: string, password: string): Promise<string> {
  const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(res.status, 201, `token of ${username}`);
  return ((await res.json()) as { token: string }).token;
}

function listening(gw: TestGateway): boolean {
  return (gw.registry.store as unknown as { driver: { listening: boolean } }).driver.listening;
}

async function untilListening(...gateways: TestGateway[]): Promise<void> {
  for (let i = 0; i < 100 && !gateways.every(listening); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(gateways.every(listening), 'the listeners reconnected');
}

/** The LISTEN connections drop and cannot come back until connections are allowed again; each pool keeps four open connections. */
async function cutListeners(): Promise<void> {
  for (const gw of [a, b]) {
    const driver = (gw.registry.store as unknown as { driver: { query(sql: string): Promise<unknown> } }).driver;
    await Promise.all([1, 2, 3, 4].map(() => driver.query('SELECT pg_sleep(0.05)')));
  }
  await adminSql(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS false`);
  assert.ok((await terminateConnections(db.url, 'portcullis-listen')) >= 2);
}

/** Milliseconds until `status()` answers `expected` (polling every 50 ms), or undefined after `ms`. */
async function within(ms: number, expected: number, status: () => Promise<number>): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if ((await status()) === expected) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

before(async () => {
  db = await createTestDatabase();
  dbName = new URL(db.url).pathname.slice(1);
  a = await startGateway({ storeUrl: db.url });
  b = await startGateway({ storeUrl: db.url });
  admin = await tokenOf(a, 'admin', ADMIN_PASSWORD);
});

afterEach(async () => {
  await adminSql(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`);
  await untilListening(a, b);
});

after(async () => {
  await adminSql(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
  await a?.close();
  await b?.close();
  await db?.drop();
});

test('a user disabled on replica B loses its session on replica A within 1 second while A cannot LISTEN', async () => {
  await b.registry.users.create({ username: 'dora', password: 'Dora-Passw0rd1', roles: ['user'] }, undefined);
  const cookie = await a.login('dora', 'Dora-Passw0rd1');
  assert.equal((await a.fetch('/x', { headers: { cookie } })).status, 200);
  assert.equal((await a.fetch('/x', { headers: { cookie } })).status, 200, 'answered from the caches');

  await cutListeners();
  await b.registry.users.update('dora', { disabled: true }, { username: 'admin' });
  const took = await within(2_000, 401, async () => (await a.fetch('/x', { headers: { cookie } })).status);
  assert.ok(took !== undefined && took <= 1_000, `replica A accepted the disabled user's session for ${took ?? '> 2000'} ms`);
});

test('a token revoked through replica A stops working on both replicas within 1 second while neither can LISTEN, A included', async () => {
  await a.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd!', roles: ['user'] }, undefined);
  const bob = await tokenOf(a, 'bob', 'Bob-Passw0rd!');
  for (const gw of [a, b, a, b]) assert.equal((await gw.fetch('/.auth/me', { headers: { 'x-authentication': bob } })).status, 200);

  await cutListeners();
  await new Promise((r) => setTimeout(r, 300));
  const revoked = await a.fetch('/.auth/api/users/bob/revoke', { method: 'POST', headers: { 'x-authentication': admin } });
  assert.equal(revoked.status, 204, 'the revoke commits through a pooled connection');
  await new Promise((r) => setTimeout(r, 1_000));
  const onA = await a.fetch('/.auth/me', { headers: { 'x-authentication': bob } });
  const onB = await b.fetch('/.auth/me', { headers: { 'x-authentication': bob } });
  // A hears even of its own changes only through LISTEN.
  assert.deepEqual([onA.status, onB.status], [401, 401]);
});

test('after an outage, a disable on replica B ends the session on replica A within 1 second while A is still reconnecting', async () => {
  await b.registry.users.create({ username: 'erin', password: 'Erin-Passw0rd1', roles: ['user'] }, undefined);
  const cookie = await a.login('erin', 'Erin-Passw0rd1');
  assert.equal((await a.fetch('/x', { headers: { cookie } })).status, 200);

  await cutListeners();
  // Long enough for the reconnect backoff to grow past a second.
  await new Promise((r) => setTimeout(r, 3_500));
  await adminSql(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`);
  await b.registry.users.update('erin', { disabled: true }, { username: 'admin' });
  const took = await within(4_000, 401, async () => (await a.fetch('/x', { headers: { cookie } })).status);
  assert.ok(took !== undefined && took <= 1_000, `replica A accepted the disabled user's session for ${took ?? '> 4000'} ms`);
});

test('a signing key rotated while a replica could not LISTEN is known to it once it has reconnected', async () => {
  await a.registry.users.create({ username: 'robot', password: 'Robot-Passw0rd!', roles: ['api'] }, undefined);
  const robot = await tokenOf(a, 'robot', 'Robot-Passw0rd!');

  await cutListeners();
  await a.registry.gatewayKeys.rotate();
  await adminSql(`ALTER DATABASE ${dbName} WITH ALLOW_CONNECTIONS true`);
  await untilListening(a, b);
  await new Promise((r) => setTimeout(r, 300));

  const minted = await a.fetch('/.auth/api/tokens', {
    method: 'POST',
    headers: { 'x-authentication': robot, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', kind: 'jwt' }),
  });
  assert.equal(minted.status, 201);
  const jwt = ((await minted.json()) as { token: string }).token;
  assert.equal((await a.fetch('/.auth/me', { headers: { authorization: `Bearer ${jwt}` } })).status, 200);
  assert.equal((await b.fetch('/.auth/me', { headers: { authorization: `Bearer ${jwt}` } })).status, 200, 'replica B loaded the new key after reconnecting');
});

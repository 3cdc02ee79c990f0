/**
 * examples/green-metrics-tool in front of a stand-in for GMT's API authentication: the
 * `X-Authentication` token is hashed (SHA-256) and looked up in a users table; a missing or
 * blank token becomes the token `DEFAULT`, GMT's all-powerful DEFAULT user (recorded here: the
 * tests assert it is never reached). A user may only use the routes (exact paths) of its
 * capabilities, submit runs on its machines and in its schedule modes.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { exampleConfig } from './example-config.js';

interface GmtUser {
  id: number;
  name: string;
  routes: Set<string>;
  machines: number[];
  scheduleModes: string[];
}

const READ_ROUTES = ['/v1/machines', '/v2/runs', '/v1/optimizations/0f3c', '/v1/badge/timeline', '/v1/ci/badge/get'];
const BADGE_ROUTES = ['/v1/badge/timeline', '/v1/ci/badge/get'];
const SUBMIT_ROUTES = [...READ_ROUTES, '/v1/software/add'];
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

const tokens = { alice: `alice-${randomBytes(12).toString('hex')}`, viewer: `viewer-${randomBytes(12).toString('hex')}`, badges: `badges-${randomBytes(12).toString('hex')}` };
/** GMT's users table: token hash → user. DEFAULT's token is the text `DEFAULT`. */
const gmtUsers = new Map<string, GmtUser>([
  [sha256('DEFAULT'), { id: 1, name: 'DEFAULT', routes: new Set(SUBMIT_ROUTES), machines: [1, 3, 7, 9], scheduleModes: ['one-off', 'daily', 'weekly', 'commit', 'variance'] }],
  [sha256(tokens.alice), { id: 2, name: 'alice', routes: new Set(SUBMIT_ROUTES), machines: [7, 9], scheduleModes: ['one-off', 'daily'] }],
  [sha256(tokens.viewer), { id: 3, name: 'viewer', routes: new Set(READ_ROUTES), machines: [], scheduleModes: [] }],
  [sha256(tokens.badges), { id: 4, name: 'badges', routes: new Set(BADGE_ROUTES), machines: [], scheduleModes: [] }],
]);

const dir = mkdtempSync(join(tmpdir(), 'portcullis-gmt-'));
writeFileSync(join(dir, 'portcullis-secret-key'), `${randomBytes(32).toString('hex')}\n`);
writeFileSync(join(dir, 'gmt-viewer-token'), `${tokens.viewer}\n`);
writeFileSync(join(dir, 'gmt-badge-token'), `${tokens.badges}\n`);
let gmt: Server;
let gateway: TestGateway;
/** Every request GMT authenticated, with the GMT user it became. */
const received: Array<{ user: string; method: string; path: string; body: string; machines: string | undefined }> = [];
/** Requests that would have been GMT's DEFAULT user. */
const reachedDefault: string[] = [];
const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const basic = (name: string) => `Basic ${Buffer.from(`${name}:Passw0rd-long!`).toString('base64')}`;

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** What GMT's authenticate dependency does, then the checks of POST /v1/software/add. */
function handle(req: IncomingMessage, res: ServerResponse, body: string): void {
  const path = new URL(req.url ?? '/', 'http://gmt').pathname;
  const header = req.headers['x-authentication'];
  let token = typeof header === 'string' ? header : '';
  if (token.trim() === '') token = 'DEFAULT';
  const user = gmtUsers.get(sha256(token));
  if (user === undefined) return answer(res, 401, { success: false, err: 'Invalid token' });
  if (user.name === 'DEFAULT') reachedDefault.push(`${req.method} ${req.url}`);
  if (!user.routes.has(path)) return answer(res, 401, { success: false, err: 'Route not allowed' });
  received.push({ user: user.name, method: req.method ?? '', path, body, machines: req.headers['x-auth-machines'] as string | undefined });
  if (path === '/v1/software/add') {
    const run = JSON.parse(body) as { machine_id: number; schedule_mode: string };
    if (!user.machines.includes(run.machine_id)) return answer(res, 422, { success: false, err: 'Your user does not have the permissions to use that machine.' });
    if (!user.scheduleModes.includes(run.schedule_mode)) return answer(res, 422, { success: false, err: 'Your user does not have the permissions to use that schedule mode.' });
    return answer(res, 202, { success: true, data: [randomBytes(8).toString('hex')] });
  }
  if (path.includes('/badge/')) {
    res.writeHead(200, { 'content-type': 'image/svg+xml' }).end('<svg/>');
    return;
  }
  answer(res, 200, { success: true, data: [] });
}

async function api(method: string, path: string, body?: unknown, auth = admin): Promise<Response> {
  return gateway.fetch(`/.auth/api${path}`, {
    method,
    headers: { authorization: auth, 'content-type': 'application/json', 'x-requested-with': 'portcullis' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

function submit(auth: string | undefined, run: Record<string, unknown>): Promise<Response> {
  const body = { name: 'demo', url: 'https://github.com/example/demo', email: 'a@example.org', filename: 'usage_scenario.yml', branch: 'main', machine_id: 7, schedule_mode: 'one-off', ...run };
  return gateway.fetch('/v1/software/add', { method: 'POST', headers: { ...(auth ? { authorization: auth } : {}), 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

before(async () => {
  gmt = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => handle(req, res, body));
  });
  await new Promise<void>((resolve) => gmt.listen(0, '127.0.0.1', resolve));
  gateway = await startGateway({ config: exampleConfig('green-metrics-tool', dir, `http://127.0.0.1:${(gmt.address() as AddressInfo).port}`) });
  for (const [username, roles, attributes] of [
    ['alice', ['user'], { machines: ['7', '9'], retention_days: ['365'], optimizations: ['cpu', 'mem'] }],
    ['sam', ['user'], { machines: ['3'] }],
    ['rita', ['readonly'], {}],
  ] as const) {
    const created = await api('POST', '/users', { username, password: 'Passw0rd-long!', roles, attributes });
    assert.equal(created.status, 201, await created.text());
  }
  assert.equal((await api('PUT', '/users/alice/upstream-credentials/gmt', { value: tokens.alice })).status, 204);
});

after(async () => {
  // Whatever the tests did, no request ever became GMT's DEFAULT user.
  assert.deepEqual(reachedDefault, []);
  await gateway?.close();
  await new Promise((resolve) => gmt?.close(resolve));
});

test('a submitter submits as its own GMT user, on its machines only', async () => {
  const ok = await submit(basic('alice'), { machine_id: 9 });
  assert.equal(ok.status, 202, await ok.text());
  assert.equal(received.at(-1)?.user, 'alice');
  const before = received.length;
  assert.equal((await submit(basic('alice'), { machine_id: 3 })).status, 403);
  assert.equal((await submit(basic('alice'), { schedule_mode: 'statistical-significance' })).status, 403);
  assert.equal(received.length, before, 'refused by the gateway, never sent to GMT');
  // The gateway's rule is wider than alice's GMT capabilities (weekly): GMT still refuses.
  assert.equal((await submit(basic('alice'), { schedule_mode: 'weekly' })).status, 422);
});

test('readonly users and submitters without a token of their own read with the viewer token and cannot submit', async () => {
  assert.equal((await gateway.fetch('/v1/machines', { headers: { authorization: basic('rita') } })).status, 200);
  assert.equal(received.at(-1)?.user, 'viewer');
  assert.equal((await gateway.fetch('/v2/runs', { headers: { authorization: basic('sam') } })).status, 200);
  assert.equal(received.at(-1)?.user, 'viewer');
  const before = received.length;
  assert.equal((await submit(basic('rita'), { machine_id: 7 })).status, 403);
  assert.equal(received.length, before);
  // sam may submit at the gateway (machine 3), but the viewer token may not use the route in GMT.
  const refused = await submit(basic('sam'), { machine_id: 3 });
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { err: string }).err, 'Route not allowed');
});

test('public badges reach GMT with the badge token, never as DEFAULT', async () => {
  const badge = await gateway.fetch('/v1/ci/badge/get?repo=example/demo&branch=main&workflow=1');
  assert.equal(badge.status, 200);
  assert.equal(received.at(-1)?.user, 'badges');
  assert.equal((await gateway.fetch('/v1/badge/timeline?uri=x&detail_name=y&machine_id=7')).status, 200);
  assert.equal(received.at(-1)?.user, 'badges');
  // A client's own X-Authentication, blank or DEFAULT, is the gateway's credential header: refused.
  for (const value of ['', ' ', 'DEFAULT']) {
    const response = await gateway.fetch('/v1/ci/badge/get?repo=x', { headers: { 'x-authentication': value } });
    assert.ok(response.status === 200 ? received.at(-1)?.user === 'badges' : response.status === 401, `${JSON.stringify(value)}: ${response.status}`);
  }
});

test('anonymous requests to anything but a badge never reach GMT', async () => {
  const before = received.length;
  for (const [method, path] of [
    ['GET', '/v1/machines'],
    ['GET', '/v2/runs'],
    ['GET', '/v1/optimizations/0f3c'],
    ['POST', '/v1/software/add'],
    ['GET', '/v1/badge/../machines'],
    ['GET', '/v1/badge%2f..%2fmachines'],
    ['GET', '/'],
  ] as const) {
    const response = await gateway.fetch(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-authentication': '' },
      ...(method === 'POST' ? { body: '{"machine_id": 7, "schedule_mode": "one-off"}' } : {}),
    });
    assert.ok([400, 401, 403, 404].includes(response.status), `${method} ${path}: ${response.status}`);
  }
  assert.equal(received.length, before);
});

test('a blank or padded per-user token is refused: GMT would read it as DEFAULT', async () => {
  for (const value of ['', ' ', '   ', ' padded', 'padded\t']) {
    const response = await api('PUT', '/users/sam/upstream-credentials/gmt', { value });
    assert.equal(response.status, 400, `${JSON.stringify(value)}: ${response.status}`);
  }
  assert.deepEqual(await gateway.registry.store.listUpstreamCredentialRoutes('sam'), []);
});

test('the submission budget: a total set by an admin, shown in /me, 429 when spent', async () => {
  assert.equal((await api('PATCH', '/users/alice', { quotas: { 'submit-run': 2 } })).status, 200);
  const me = (await (await api('GET', '/me', undefined, basic('alice'))).json()) as { budgets: Record<string, { limit: number; remaining: number }> };
  assert.deepEqual(me.budgets['submit-run'], { limit: 2, remaining: 2 });
  assert.equal((await submit(basic('alice'), {})).status, 202);
  assert.equal((await submit(basic('alice'), {})).status, 202);
  const before = received.length;
  const spent = await submit(basic('alice'), {});
  assert.equal(spent.status, 429);
  assert.equal(received.length, before);
  const after = (await (await api('GET', '/me', undefined, basic('alice'))).json()) as { budgets: Record<string, { remaining: number }> };
  assert.equal(after.budgets['submit-run']?.remaining, 0);
});

test('optimisation reports only for users given optimisations; attributes forwarded as headers', async () => {
  assert.equal((await gateway.fetch('/v1/optimizations/0f3c', { headers: { authorization: basic('alice') } })).status, 200);
  assert.equal(received.at(-1)?.machines, '7,9');
  const before = received.length;
  assert.equal((await gateway.fetch('/v1/optimizations/0f3c', { headers: { authorization: basic('rita') } })).status, 403);
  assert.equal(received.length, before);
});

test('the stored token is never shown back nor logged', async () => {
  const read = await (await api('GET', '/users/alice')).text();
  assert.match(read, /"upstream_credentials":\["gmt"\]/);
  assert.ok(!read.includes(tokens.alice));
  assert.ok(!gateway.logs.some((line) => line.includes(tokens.alice) || line.includes(tokens.viewer) || line.includes(tokens.badges)));
});

test('an empty token file is no credential: 403, never an empty X-Authentication', async () => {
  const emptyDir = mkdtempSync(join(tmpdir(), 'portcullis-gmt-empty-'));
  writeFileSync(join(emptyDir, 'portcullis-secret-key'), `${randomBytes(32).toString('hex')}\n`);
  writeFileSync(join(emptyDir, 'gmt-viewer-token'), '\n');
  writeFileSync(join(emptyDir, 'gmt-badge-token'), '  \n');
  const other = await startGateway({ config: exampleConfig('green-metrics-tool', emptyDir, `http://127.0.0.1:${(gmt.address() as AddressInfo).port}`) });
  try {
    const before = received.length;
    assert.equal((await other.fetch('/v1/ci/badge/get?repo=x')).status, 403);
    assert.equal((await other.fetch('/v1/machines', { headers: { authorization: admin } })).status, 403);
    assert.equal(received.length, before);
    assert.ok(other.logs.some((line) => line.includes('empty') && line.includes('gmt-badge-token')));
  } finally {
    await other.close();
  }
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { loadGatewayConfig } from '../../../src/app/check.js';
import { ConfigError } from '../../../src/config/load.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { send } from '../../helpers/send.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';
import { createTestDatabase } from '../../helpers/postgres.js';

const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');
const ann = basic('ann', 'Ann-Passw0rd1');
const ro = basic('rob', 'Rob-Passw0rd1');
const admin = basic('admin', ADMIN_PASSWORD);

const code = (text: string): string => (JSON.parse(text) as { error: { code: string } }).error.code;

const RULES = [
  { name: 'badges', paths: ['/badges/**'], methods: ['GET'], policy: 'public', query: { style: ['flat', 'plastic'] } },
  { name: 'db-own-project', paths: ['/v1/sql'], query: { db: '{project}' }, sql: 'read_only', roles: ['readonly', 'user'] },
  { name: 'sql-writes', paths: ['/v1/sql'], query: { db: '{project}' }, roles: ['user'] },
  { name: 'submit', paths: ['/v1/runs'], methods: ['POST'], body: { schedule_mode: ['one-off', 'daily'], machine_id: ['7', '9'] }, roles: ['user'] },
  { name: 'tagged', paths: ['/tagged'], methods: ['POST'], body: { tags: 'ok-*' }, roles: ['user'] },
  { name: 'api-from-cluster', paths: ['/api/**'], networks: ['10.0.0.0/8', '127.0.0.0/8'], headers: { 'X-Client-Kind': ['cli', 'portal'] }, roles: ['user'] },
  { name: 'api-elsewhere', paths: ['/api/**'], policy: 'deny' },
  { name: 'submit-budget', paths: ['/budgeted'], methods: ['POST'], roles: ['user'], quota: { requests: 2 } },
];

describe('rule conditions, as SPEC 5 words them, against a real upstream', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: { server: { max_inspect_body: '1KiB' }, routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }], access: { default_policy: 'deny', rules: RULES } },
    });
    await gw.registry.users.create({ username: 'ann', password: 'Ann-Passw0rd1', roles: ['user'], projects: ['alpha'] }, undefined);
    await gw.registry.users.create({ username: 'rob', password: 'Rob-Passw0rd1', roles: ['readonly'], projects: ['alpha'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('query: present and matching; absent, other values and differing repeats do not match a public rule', async () => {
    assert.equal((await gw.fetch('/badges/x.svg?style=flat')).status, 200);
    assert.equal((await gw.fetch('/badges/x.svg?style=fl%61t')).status, 200, 'percent-decoded once');
    assert.equal((await gw.fetch('/badges/x.svg?style=flat&style=flat')).status, 200, 'equal repeats are one value');
    // Not matched (or not evaluable) on a public rule: skipped, so default_policy deny decides.
    for (const query of ['', '?style=3d', '?style=flat&style=3d', '?style=%ZZ', '?Style=flat']) assert.equal((await gw.fetch(`/badges/x.svg${query}`)).status, 403, query);
  });

  test("{project} in a query value scopes a database to the caller's projects; read-only SQL for readonly", async () => {
    const q = (db: string, sql: string): string => `/v1/sql?db=${db}&sql=${encodeURIComponent(sql)}`;
    assert.equal((await gw.fetch(q('alpha', 'SELECT * FROM cpu'), { headers: { authorization: ro } })).status, 200);
    assert.equal(upstream.last().url, q('alpha', 'SELECT * FROM cpu'), 'the query is forwarded as sent');
    assert.equal((await gw.fetch(q('beta', 'SELECT * FROM cpu'), { headers: { authorization: ro } })).status, 403, 'another project');
    assert.equal((await gw.fetch(q('alpha', 'DROP TABLE cpu'), { headers: { authorization: ro } })).status, 403, 'a write by readonly');
    assert.equal((await gw.fetch(q('alpha', 'SELECT 1; DROP TABLE cpu'), { headers: { authorization: ro } })).status, 403, 'stacked');
    assert.equal((await gw.fetch(q('alpha', 'DROP TABLE cpu'), { headers: { authorization: ann } })).status, 200, 'a user may write in its project');
    assert.equal((await gw.fetch(q('beta', 'SELECT 1'), { headers: { authorization: admin } })).status, 200, 'admin: every placeholder matches');
  });

  test('sql: read from a form body too; query and form both present cannot be evaluated (400)', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: ro };
    const read = await send(gw.url, { method: 'POST', path: '/v1/sql?db=alpha', headers: form, body: 'sql=SELECT+*+FROM+cpu' });
    assert.equal(read.status, 200);
    assert.equal(upstream.last().body, 'sql=SELECT+*+FROM+cpu', 'byte-identical');
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/sql?db=alpha', headers: form, body: 'sql=DELETE+FROM+cpu' })).status, 403);
    const both = await send(gw.url, { method: 'POST', path: `/v1/sql?db=alpha&sql=${encodeURIComponent('SELECT 1')}`, headers: form, body: 'sql=SELECT+2' });
    assert.equal(both.status, 400);
    assert.equal(code(both.text), 'condition_not_evaluable');
  });

  test('body: JSON fields and arrays element-wise, numbers by their text, forms; forwarded with their framing', async () => {
    const json = { 'content-type': 'application/json', authorization: ann };
    const run = JSON.stringify({ schedule_mode: 'daily', machine_id: 7, name: 'x' });
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json, body: run })).status, 200);
    assert.equal(upstream.last().body, run);
    assert.equal(upstream.last().headers['content-length'], String(run.length));
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json, body: run, chunked: true })).status, 200);
    assert.equal(upstream.last().body, run);
    assert.equal(upstream.last().headers['transfer-encoding'], 'chunked');
    for (const body of [
      { schedule_mode: 'continuous', machine_id: 7 },
      { schedule_mode: 'daily', machine_id: 8 },
      { schedule_mode: 'daily' },
      { schedule_mode: ['daily'], machine_id: { id: 7 } },
      { schedule_mode: null, machine_id: 7 },
    ]) {
      assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json, body: JSON.stringify(body) })).status, 403, JSON.stringify(body));
    }
    assert.equal((await send(gw.url, { method: 'POST', path: '/tagged', headers: json, body: '{"tags":["ok-a","ok-b"]}' })).status, 200, 'every element matches');
    assert.equal((await send(gw.url, { method: 'POST', path: '/tagged', headers: json, body: '{"tags":["ok-a","bad"]}' })).status, 403);
    assert.equal((await send(gw.url, { method: 'POST', path: '/tagged', headers: json, body: '{"tags":[]}' })).status, 403, 'an empty array never matches');
    const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: ann };
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: form, body: 'schedule_mode=one-off&machine_id=9' })).status, 200);
  });

  test('body: what cannot be evaluated is 400 body_not_inspectable and never forwarded', async () => {
    const before = upstream.received.length;
    const json = { 'content-type': 'application/json', authorization: ann };
    const cases: Array<{ headers: Record<string, string>; body: Buffer | string; chunked?: boolean }> = [
      { headers: json, body: '{"schedule_mode":"daily","machine_id":7,"schedule_mode":"continuous"}' },
      { headers: json, body: '{"schedule_mode":"daily","machine_id":7,"schedule_mod\\u0065":"x"}' },
      { headers: json, body: '[{"schedule_mode":"daily"}]' },
      { headers: json, body: '{not json' },
      { headers: { ...json, 'content-type': 'text/plain' }, body: 'schedule_mode=daily' },
      { headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync('{"schedule_mode":"daily","machine_id":7}') },
      { headers: json, body: JSON.stringify({ schedule_mode: 'daily', machine_id: 7, pad: 'x'.repeat(2000) }) },
      { headers: json, body: JSON.stringify({ schedule_mode: 'daily', machine_id: 7, pad: 'x'.repeat(2000) }), chunked: true },
    ];
    for (const item of cases) {
      const res = await send(gw.url, { method: 'POST', path: '/v1/runs', ...item });
      assert.equal(res.status, 400, String(item.body).slice(0, 60));
      assert.equal(code(res.text), 'body_not_inspectable');
    }
    assert.equal(upstream.received.length, before, 'nothing was forwarded');
  });

  test('networks and headers: the client address and a header value, all conditions together', async () => {
    assert.equal((await gw.fetch('/api/jobs', { headers: { authorization: ann, 'x-client-kind': 'cli' } })).status, 200);
    assert.equal((await gw.fetch('/api/jobs', { headers: { authorization: ann, 'x-client-kind': 'browser' } })).status, 403, 'the header does not match: the deny rule');
    assert.equal((await gw.fetch('/api/jobs', { headers: { authorization: ann } })).status, 403, 'absent header');
  });

  test("a scoped token meets the rule's conditions exactly as its user does, and then its scope", async () => {
    const mint = async (scope: unknown): Promise<string> => {
      const res = await gw.fetch('/.auth/api/tokens', { method: 'POST', headers: { authorization: ann, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci', scope }) });
      assert.equal(res.status, 201);
      return ((await res.json()) as { token: string }).token;
    };
    const inScope = await mint({ paths: ['/v1/**'], methods: ['POST'] });
    const json = (token: string): Record<string, string> => ({ 'content-type': 'application/json', 'x-authentication': token });
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json(inScope), body: '{"schedule_mode":"daily","machine_id":9}' })).status, 200);
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json(inScope), body: '{"schedule_mode":"daily","machine_id":8}' })).status, 403, 'the condition binds the token');
    assert.equal((await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json(inScope), body: '[1]' })).status, 400, 'and cannot be evaluated for it either');
    const elsewhere = await mint({ paths: ['/tagged'] });
    const outOfScope = await send(gw.url, { method: 'POST', path: '/v1/runs', headers: json(elsewhere), body: '{"schedule_mode":"daily","machine_id":9}' });
    assert.equal(outOfScope.status, 403);
    assert.equal(code(outOfScope.text), 'token_scope');
  });

  test('a budget counts down, says what is left in /api/me, answers 429 budget_exhausted, and an admin resets it', async () => {
    const post = (): Promise<Response> => gw.fetch('/budgeted', { method: 'POST', headers: { authorization: ann } });
    assert.equal((await post()).status, 200);
    const me = (await (await gw.fetch('/.auth/api/me', { headers: { authorization: ann } })).json()) as { budgets: Record<string, { limit: number; remaining: number }> };
    assert.deepEqual(me.budgets['submit-budget'], { limit: 2, remaining: 1 });
    assert.equal((await post()).status, 200);
    const spent = await post();
    assert.equal(spent.status, 429);
    assert.equal(((await spent.json()) as { error: { code: string } }).error.code, 'budget_exhausted');
    assert.equal(spent.headers.get('retry-after'), null, 'a budget has no window to wait for');
    const patched = await gw.fetch('/.auth/api/users/ann', {
      method: 'PATCH',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ quotas: { 'submit-budget': 3 } }),
    });
    assert.equal(patched.status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await post()).status, 200, `request ${i + 1} of the new total`);
    assert.equal((await post()).status, 429);
  });
});

test('config check: an invalid CIDR, an unknown sql mode, a body condition on a GET rule, a bad placeholder', () => {
  const problems = (rules: unknown[]): string[] => {
    try {
      loadGatewayConfig({ text: JSON.stringify({ access: { rules } }), env: {} });
      return [];
    } catch (err) {
      return err instanceof ConfigError ? err.problems.map((p) => `${p.path}: ${p.message}`) : [String(err)];
    }
  };
  assert.ok(problems([{ name: 'r', paths: ['/x'], networks: ['10.0.0.0/33'] }]).some((p) => p.startsWith('access.rules[0].networks')));
  assert.ok(problems([{ name: 'r', paths: ['/x'], sql: 'write_only' }]).some((p) => p.startsWith('access.rules[0].sql')));
  assert.ok(problems([{ name: 'r', paths: ['/x'], methods: ['GET'], body: { a: 'b' } }]).some((p) => p.startsWith('access.rules[0].body')));
  assert.ok(problems([{ name: 'r', paths: ['/x'], query: { db: 'proj-{project}' } }]).some((p) => p.startsWith('access.rules[0].query.db')));
  assert.ok(problems([{ name: 'r', paths: ['/x'], attributes: { Bad: ['1'] } }]).some((p) => p.startsWith('access.rules[0].attributes')));
  assert.deepEqual(
    problems([{ name: 'r', paths: ['/m/{attr.machines}'], query: { db: '{attr.unknown_key}' }, body: { a: '*' }, methods: ['POST'] }]),
    [],
    'an unknown attribute key in a placeholder is fine',
  );
});

test('a budget is shared by two replicas on one PostgreSQL: the total holds across them', async () => {
  const db = await createTestDatabase();
  const upstream = await startUpstream();
  const config = {
    routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
    access: { default_policy: 'deny', rules: [{ name: 'runs', paths: ['/runs'], methods: ['POST'], roles: ['user'], quota: { requests: 5 } }] },
  };
  const a = await startGateway({ storeUrl: db.url, config });
  const b = await startGateway({ storeUrl: db.url, config });
  try {
    await a.registry.users.create({ username: 'ann', password: 'Ann-Passw0rd1', roles: ['user'] }, undefined);
    const statuses = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).fetch('/runs', { method: 'POST', headers: { authorization: ann } }).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 200).length, 5);
    assert.equal(statuses.filter((s) => s === 429).length, 7);
  } finally {
    await a.close();
    await b.close();
    await upstream.close();
    await db.drop();
  }
});

/**
 * examples/greptimedb in front of a stand-in for GreptimeDB's static user provider: accounts
 * `name:ro=password` and `name:rw=password` from its users file, checked from
 * `Authorization: Basic` (the form the gateway always sends; the database also reads InfluxDB
 * v1 u/p and v2 `Token user:password`, which the gateway consumes itself). A read-only account
 * writing is refused by the database (permission denied), as is any unknown account.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { exampleConfig } from './example-config.js';

/** Parses a static user provider file: `name=password` (read-write) or `name:ro=` / `name:rw=` / `name:wo=`. */
function staticUsers(text: string): Map<string, { password: string; mode: 'rw' | 'ro' | 'wo' }> {
  const users = new Map<string, { password: string; mode: 'rw' | 'ro' | 'wo' }>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    const [name, mode] = line.slice(0, eq).split(':') as [string, string | undefined];
    users.set(name, { password: line.slice(eq + 1), mode: mode === 'ro' || mode === 'wo' ? mode : 'rw' });
  }
  return users;
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-greptime-'));
writeFileSync(join(dir, 'greptime-ro'), 'ro-Secret-1\n');
writeFileSync(join(dir, 'greptime-rw'), 'rw-Secret-2\n');
const accounts = staticUsers('reader:ro=ro-Secret-1\nwriter:rw=rw-Secret-2\n');
let db: Server;
let gateway: TestGateway;
const received: Array<{ account: string; url: string; body: string }> = [];
const admin = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
const basic = (name: string) => `Basic ${Buffer.from(`${name}:Passw0rd-long!`).toString('base64')}`;

function isWrite(req: IncomingMessage, body: string): boolean {
  if (/\/write(\?|$)/.test(req.url ?? '')) return true;
  const sql = new URL(req.url ?? '/', 'http://x').searchParams.get('sql') ?? new URLSearchParams(body).get('sql') ?? '';
  return !/^\s*(select|show|describe|explain)\b/i.test(sql);
}

async function api(method: string, path: string, body: unknown, auth = admin): Promise<Response> {
  return gateway.fetch(`/.auth/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json', 'x-requested-with': 'portcullis' }, body: JSON.stringify(body) });
}

before(async () => {
  db = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const [scheme, value] = (req.headers.authorization ?? '').split(' ');
      const decoded = scheme === 'Basic' && value ? Buffer.from(value, 'base64').toString() : '';
      const colon = decoded.indexOf(':');
      const account = accounts.get(decoded.slice(0, colon));
      if (colon <= 0 || !account || account.password !== decoded.slice(colon + 1)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Username and password does not match"}');
        return;
      }
      if (isWrite(req, body) ? account.mode === 'ro' : account.mode === 'wo') {
        res.writeHead(403, { 'content-type': 'application/json' }).end('{"error":"Permission denied"}');
        return;
      }
      received.push({ account: decoded.slice(0, colon), url: req.url ?? '', body });
      res.writeHead(req.url?.includes('write') ? 204 : 200, { 'content-type': 'application/json' }).end(req.url?.includes('write') ? undefined : '{"output":[]}');
    });
  });
  await new Promise<void>((resolve) => db.listen(0, '127.0.0.1', resolve));
  gateway = await startGateway({ config: exampleConfig('greptimedb', dir, `http://127.0.0.1:${(db.address() as AddressInfo).port}`) });
  for (const [username, roles] of [
    ['rita', ['readonly']],
    ['wally', ['writeonly']],
    ['rose', ['readwrite']],
  ] as const) {
    assert.equal((await api('POST', '/users', { username, password: 'Passw0rd-long!', roles, projects: ['alpha'] })).status, 201);
  }
});

after(async () => {
  await gateway?.close();
  await new Promise((resolve) => db?.close(resolve));
});

test('readonly reads through the ro account, writeonly and readwrite write through the rw account', async () => {
  assert.equal((await gateway.fetch('/v1/sql?db=alpha&sql=SELECT+1', { headers: { authorization: basic('rita') } })).status, 200);
  assert.equal(received.at(-1)?.account, 'reader');
  assert.equal((await gateway.fetch('/v1/influxdb/write?db=alpha', { method: 'POST', headers: { authorization: basic('wally') }, body: 'cpu v=1' })).status, 204);
  assert.equal(received.at(-1)?.account, 'writer');
  assert.equal((await gateway.fetch('/v1/sql?db=alpha&sql=DELETE+FROM+cpu', { method: 'POST', headers: { authorization: basic('rose') } })).status, 200);
  assert.equal(received.at(-1)?.account, 'writer');
});

test("write endpoints are closed to readonly, other projects' databases to everyone, write SQL to readonly", async () => {
  const before = received.length;
  assert.equal((await gateway.fetch('/v1/influxdb/write?db=alpha', { method: 'POST', headers: { authorization: basic('rita') }, body: 'cpu v=1' })).status, 403);
  assert.equal((await gateway.fetch('/v1/influxdb/write?db=beta', { method: 'POST', headers: { authorization: basic('wally') }, body: 'cpu v=1' })).status, 403);
  assert.equal((await gateway.fetch('/v1/sql?db=alpha&sql=DROP+TABLE+cpu', { headers: { authorization: basic('rita') } })).status, 403);
  assert.equal((await gateway.fetch('/v1/sql?db=beta&sql=SELECT+1', { headers: { authorization: basic('rita') } })).status, 403);
  assert.equal(received.length, before);
});

test('Telegraf (InfluxDB v1 u/p) and Prometheus remote_write (Basic) write with a gateway token', async () => {
  const token = ((await (await api('POST', '/tokens', { name: 'telegraf' }, basic('wally'))).json()) as { token: string }).token;
  const v1 = await gateway.fetch(`/v1/influxdb/write?db=alpha&u=wally&p=${token}&precision=s`, { method: 'POST', body: 'cpu v=1' });
  assert.equal(v1.status, 204);
  assert.equal(received.at(-1)?.url, '/v1/influxdb/write?db=alpha&precision=s');
  const remote = await gateway.fetch('/v1/prometheus/write?db=alpha', { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`wally:${token}`).toString('base64')}` }, body: 'snappy' });
  assert.equal(remote.status, 204);
  assert.equal(received.at(-1)?.account, 'writer');
  assert.ok(!gateway.logs.join('\n').includes(token));
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GATEWAY_NODE_FLAGS } from '../../src/app/node-flags.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/slapd.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cleanEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PORTCULLIS_')) env[k] = v;
  return { ...env, HOME: home, ...extra };
}

function run(args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

describe('portcullis CLI against a running gateway', () => {
  let gw: TestGateway;
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    gw = await startGateway();
    home = mkdtempSync(join(tmpdir(), 'pcl-home-'));
    env = cleanEnv(home, { PORTCULLIS_SERVER: gw.url });
  });
  after(() => gw?.close());

  test('whoami before login exits 77', async () => {
    const r = await run(['whoami'], env);
    assert.equal(r.code, 77);
    assert.match(r.stderr, /Not logged in/);
  });

  test('login with a wrong password exits 77 with the one message', async () => {
    const r = await run(['login', 'admin'], { ...env, PORTCULLIS_PASSWORD: 'wrong' });
    assert.equal(r.code, 77);
    assert.match(r.stderr, /Invalid username or password/);
  });

  test('login without a password and no terminal is a usage error', async () => {
    const r = await run(['login', 'admin'], env);
    assert.equal(r.code, 2);
  });

  test('login with environment credentials writes the token file with mode 0600, and whoami uses it', async () => {
    const r = await run(['login'], { ...env, PORTCULLIS_USERNAME: 'admin', PORTCULLIS_PASSWORD: ADMIN_PASSWORD });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stdout.includes(ADMIN_PASSWORD));
    const file = join(home, '.portcullis', 'auth-token.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(home, '.portcullis')).mode & 0o777, 0o700);
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    assert.equal(saved.server, gw.url);
    assert.equal(saved.username, 'admin');
    assert.match(saved.token ?? '', /^pcl_/);
    assert.ok(saved.expires_at);
    const who = await run(['whoami', '--json'], env);
    assert.equal(who.code, 0, who.stderr);
    assert.equal(JSON.parse(who.stdout).username, 'admin');
    const table = await run(['whoami'], env);
    assert.match(table.stdout, /USERNAME\s+ROLES/);
  });

  test('--path and PORTCULLIS_TOKEN_FILE choose where the token goes', async () => {
    const path = join(home, 'elsewhere', 'token.json');
    const r = await run(['login', '--path', path, 'admin', ADMIN_PASSWORD], env);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(path));
    assert.equal((await run(['whoami'], { ...env, HOME: mkdtempSync(join(tmpdir(), 'pcl-empty-')), PORTCULLIS_TOKEN_FILE: path })).code, 0);
  });

  test('manages users: add, list, show, update, passwd, revoke, delete', async () => {
    const add = await run(['user', 'add', 'dave', '--role', 'user', '--project', 'alpha', '--password-stdin', '--name', 'Dave'], env, 'Dave-Passw0rd1\n');
    assert.equal(add.code, 0, add.stderr);
    const list = await run(['user', 'list', '--query', 'dav'], env);
    assert.match(list.stdout, /dave\s+Dave\s+user\s+alpha\s+local/);
    const json = JSON.parse((await run(['user', 'list', '--json'], env)).stdout) as { users: Array<{ username: string }> };
    assert.ok(json.users.some((u) => u.username === 'dave'));
    const show = await run(['user', 'show', 'dave'], env);
    assert.match(show.stdout, /must_change_password\s+false/);
    const update = await run(['user', 'update', 'dave', '--add-role', 'manager', '--disable'], env);
    assert.equal(update.code, 0, update.stderr);
    assert.deepEqual((await gw.registry.store.getUser('dave'))?.roles, ['manager', 'user']);
    assert.equal((await gw.registry.store.getUser('dave'))?.disabled, true);
    const generated = await run(['user', 'add', 'gina', '--generate-password', '--json'], env);
    assert.equal(generated.code, 0, generated.stderr);
    const gina = JSON.parse(generated.stdout) as { username: string; generated_password?: string; must_change_password: boolean };
    assert.equal(gina.username, 'gina');
    assert.ok((gina.generated_password ?? '').length >= 12, 'the generated password is in the JSON, or it would be lost');
    assert.equal(gina.must_change_password, true);
    assert.equal((await gw.login('gina', gina.generated_password as string)).startsWith('portcullis_session='), true);
    const passwd = await run(['user', 'passwd', 'dave', '--generate-password'], env);
    assert.match(passwd.stdout, /Generated password: \S+/);
    assert.equal((await run(['user', 'revoke', 'dave'], env)).code, 0);
    assert.equal((await run(['user', 'delete', 'dave'], env)).code, 2, 'delete needs --yes');
    assert.equal((await run(['user', 'delete', 'dave', '--yes'], env)).code, 0);
    assert.equal(await gw.registry.store.getUser('dave'), undefined);
  });

  test('user add and update --attr set attributes, KEY= removes one, and user show prints them', async () => {
    const add = await run(['user', 'add', 'gmt', '--role', 'user', '--attr', 'machines=7,9', '--attr', 'retention_days=365', '--password-stdin'], env, 'Gmt-Passw0rd1\n');
    assert.equal(add.code, 0, add.stderr);
    assert.deepEqual((await gw.registry.store.getUser('gmt'))?.attributes, { machines: ['7', '9'], retention_days: ['365'] });
    const update = await run(['user', 'update', 'gmt', '--attr', 'machines=8', '--attr', 'optimizations=cpu,mem', '--attr', 'retention_days='], env);
    assert.equal(update.code, 0, update.stderr);
    assert.deepEqual((await gw.registry.store.getUser('gmt'))?.attributes, { machines: ['8'], optimizations: ['cpu', 'mem'] });
    const show = await run(['user', 'show', 'gmt'], env);
    assert.match(show.stdout, /attributes\s+machines=8 {2}optimizations=cpu,mem\n/);
    const bad = await run(['user', 'update', 'gmt', '--attr', 'Machines=1'], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /attributes\.Machines/);
    const usage = await run(['user', 'update', 'gmt', '--attr', 'machines'], env);
    assert.equal(usage.code, 2);
    assert.deepEqual((await gw.registry.store.getUser('gmt'))?.attributes, { machines: ['8'], optimizations: ['cpu', 'mem'] });
  });

  test('user list --role lists only the users holding that role, and refuses several roles with exit 2', async () => {
    await gw.registry.users.create({ username: 'mona', password: 'Mona-Passw0rd1', roles: ['manager'] }, undefined);
    const r = await run(['user', 'list', '--role', 'manager', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const listed = (JSON.parse(r.stdout) as { users: Array<{ username: string; roles: string[] }> }).users;
    assert.ok(
      listed.some((u) => u.username === 'mona'),
      r.stdout,
    );
    assert.ok(
      listed.every((u) => u.roles.includes('manager')),
      `not only managers: ${listed.map((u) => u.username).join(',')}`,
    );
    // The API filters by one role; two would silently list everyone.
    for (const args of [
      ['--role', 'manager', '--role', 'admin'],
      ['--role', 'manager,admin'],
    ]) {
      const several = await run(['user', 'list', ...args], env);
      assert.equal(several.code, 2, several.stderr);
      assert.match(several.stderr, /filters by one role/);
      assert.equal(several.stdout, '');
    }
  });

  test('API validation errors print each field and exit 1; guardrails too', async () => {
    const r = await run(['user', 'add', 'erin', '--password', 'weak'], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /password: must be at least 8 characters/);
    assert.match(r.stderr, /--password puts the password in the process list/);
    const self = await run(['user', 'delete', 'admin', '--yes'], env);
    assert.equal(self.code, 1);
    assert.match(self.stderr, /cannot delete your own account/);
  });

  test('tokens: create shows the secret once, list shows it without, revoke ends it', async () => {
    const created = JSON.parse((await run(['token', 'create', '--name', 'ci', '--expires-in', '1d', '--json'], env)).stdout) as { id: string; token: string };
    assert.match(created.token, /^pcl_/);
    const list = await run(['token', 'list'], env);
    assert.match(list.stdout, new RegExp(created.id));
    assert.ok(!list.stdout.includes(created.token));
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': created.token } })).status, 200);
    assert.equal((await run(['token', 'revoke', created.id], env)).code, 0);
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': created.token } })).status, 401);
  });

  test('tokens: --read-only, --scope-path and --scope-method create a scoped token that list shows', async () => {
    const r = await run(
      ['token', 'create', '--name', 'scoped', '--expires-in', '1d', '--read-only', '--scope-path', '/api/**', '--scope-path', '/.auth/api/me', '--scope-method', 'GET', '--json'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { id: string; token: string; scope: unknown; read_only: boolean };
    assert.deepEqual(created.scope, [{ paths: ['/api/**', '/.auth/api/me'], methods: ['GET'] }]);
    assert.equal(created.read_only, true);
    assert.equal((await gw.fetch('/api/x', { headers: { 'x-authentication': created.token } })).status, 200);
    assert.equal((await gw.fetch('/other', { headers: { 'x-authentication': created.token } })).status, 403);
    const line = (await run(['token', 'list'], env)).stdout.split('\n').find((l) => l.startsWith(created.id));
    assert.match(line ?? '', /GET \/api\/\*\*,\/\.auth\/api\/me & read-only$/);
    const usage = await run(['token', 'create', '--scope-method', 'GET'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--scope-path/);
    assert.equal((await run(['token', 'revoke', created.id], env)).code, 0);
  });

  test('events --json lists audit events', async () => {
    const r = await run(['events', '--type', 'UserCreated', '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const data = JSON.parse(r.stdout) as { events: Array<{ event: string }> };
    assert.ok(data.events.length > 0 && data.events.every((e) => e.event === 'UserCreated'));
  });

  test('events --follow prints new events once as they happen until interrupted', async () => {
    const child = spawn(process.execPath, [CLI, 'events', '--follow', '--json', '--type', 'UserCreated'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // The earlier UserCreated events (the test above saw some) come first: wait for them, however
    // slow the machine, and then a little for the rest of that first batch.
    const started = Date.now() + 10_000;
    while (!out.includes('\n') && Date.now() < started) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500));
    const before = out.split('\n').filter((l) => l.trim() !== '').length;
    assert.ok(before > 0, 'the earlier events are printed first');
    await gw.registry.users.create({ username: 'followed', password: 'Followed-Passw0rd1', roles: ['user'] }, undefined);
    const deadline = Date.now() + 6000;
    while (!out.includes('"followed"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    await exited;
    const lines = out.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.filter((l) => l.includes('"followed"')).length, 1, out);
    assert.ok(lines.length === before + 1, `${before} then ${lines.length}`);
  });

  test('a non-admin is refused user management with exit 77', async () => {
    await gw.registry.users.create({ username: 'frank', password: 'Frank-Passw0rd1', roles: ['user'] }, undefined);
    const frankHome = mkdtempSync(join(tmpdir(), 'pcl-frank-'));
    const frankEnv = cleanEnv(frankHome, { PORTCULLIS_SERVER: gw.url });
    assert.equal((await run(['login', 'frank', 'Frank-Passw0rd1'], frankEnv)).code, 0);
    const r = await run(['user', 'list'], frankEnv);
    assert.equal(r.code, 77);
  });

  test('logout revokes the token and removes the file', async () => {
    const file = join(home, '.portcullis', 'auth-token.json');
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { token: string };
    assert.equal((await run(['logout'], env)).code, 0);
    assert.ok(!existsSync(file));
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': saved.token } })).status, 401);
  });

  test('usage errors exit 2 and every command has --help with an example or description', async () => {
    assert.equal((await run(['user', 'list', '--bogus'], env)).code, 2);
    assert.equal((await run(['nonsense'], env)).code, 2);
    for (const command of [['serve'], ['config', 'check'], ['migrate'], ['login'], ['logout'], ['whoami'], ['user'], ['token'], ['events']]) {
      const r = await run([...command, '--help'], env);
      assert.equal(r.code, 0, command.join(' '));
      assert.match(r.stdout, new RegExp(`portcullis ${command.join(' ')}`));
    }
  });
});

describe('portcullis user credential against a gateway with a per_user route', () => {
  let gw: TestGateway;
  let env: NodeJS.ProcessEnv;
  const secret = 'gmt-Token-of-hana-0123456789abcdef';

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-cred-'));
    writeFileSync(join(dir, 'secret.key'), `${randomBytes(32).toString('hex')}\n`);
    gw = await startGateway({
      config: {
        server: { listen: '127.0.0.1:0', public_url: 'http://localhost', secret_key_file: join(dir, 'secret.key') },
        routes: [{ name: 'gmt', path_prefix: '/', upstream: 'builtin:echo', upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true } }],
      },
    });
    env = cleanEnv(dir, { PORTCULLIS_SERVER: gw.url });
    assert.equal((await run(['login', 'admin', ADMIN_PASSWORD], env)).code, 0);
    await gw.registry.users.create({ username: 'hana', password: 'Hana-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(() => gw?.close());

  test('set reads the value from stdin, never prints it, and the gateway sends it upstream', async () => {
    const set = await run(['user', 'credential', 'set', 'hana', 'gmt'], env, `${secret}\n`);
    assert.equal(set.code, 0, set.stderr);
    assert.ok(!set.stdout.includes(secret) && !set.stderr.includes(secret));
    const hana = { authorization: 'Basic ' + Buffer.from('hana:Hana-Passw0rd1').toString('base64') };
    const echoed = (await (await gw.fetch('/x', { headers: hana })).json()) as { headers: Record<string, string> };
    assert.equal(echoed.headers['x-authentication'], secret);
    const show = await run(['user', 'show', 'hana', '--json'], env);
    assert.deepEqual((JSON.parse(show.stdout) as { upstream_credentials: string[] }).upstream_credentials, ['gmt']);
    assert.ok(!show.stdout.includes(secret));
    assert.ok(!gw.logs.some((line) => line.includes(secret)));
  });

  test('delete removes it; a second delete, an unknown route or user exit 1; bad usage exits 2', async () => {
    assert.equal((await run(['user', 'credential', 'delete', 'hana', 'gmt'], env)).code, 0);
    assert.deepEqual(await gw.registry.store.listUpstreamCredentialRoutes('hana'), []);
    assert.equal((await run(['user', 'credential', 'delete', 'hana', 'gmt'], env)).code, 1);
    assert.equal((await run(['user', 'credential', 'set', 'hana', 'other'], env, 'x\n')).code, 1);
    assert.equal((await run(['user', 'credential', 'set', 'nobody', 'gmt'], env, 'x\n')).code, 1);
    const blank = await run(['user', 'credential', 'set', 'hana', 'gmt'], env, ' padded\n');
    assert.equal(blank.code, 1);
    assert.match(blank.stderr, /spaces/);
    assert.equal((await run(['user', 'credential', 'set', 'hana', 'gmt'], env, '')).code, 2);
    assert.equal((await run(['user', 'credential', 'set', 'hana'], env, 'x\n')).code, 2);
    assert.equal((await run(['user', 'credential', 'show', 'hana', 'gmt'], env)).code, 2);
    assert.equal((await run(['user', 'show', 'hana', 'gmt'], env)).code, 2);
  });

  test('a caller without role admin exits 77 and stores nothing', async () => {
    const home = mkdtempSync(join(tmpdir(), 'pcl-hana-'));
    const hanaEnv = cleanEnv(home, { PORTCULLIS_SERVER: gw.url });
    assert.equal((await run(['login', 'hana', 'Hana-Passw0rd1'], hanaEnv)).code, 0);
    assert.equal((await run(['user', 'credential', 'set', 'hana', 'gmt'], hanaEnv, `${secret}\n`)).code, 77);
    assert.deepEqual(await gw.registry.store.listUpstreamCredentialRoutes('hana'), []);
  });
});

describe('portcullis CLI against a server that answers badly', () => {
  let server: Server;
  let url: string;
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  let env: NodeJS.ProcessEnv;

  before(async () => {
    server = createServer((req, res) => answer(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = cleanEnv(mkdtempSync(join(tmpdir(), 'pcl-bad-')), { PORTCULLIS_TOKEN: 'pcl_test', PORTCULLIS_SERVER: url });
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  test("a 401 whose body is a front proxy's HTML page exits 77, like any 401", async () => {
    answer = (_req, res) => res.writeHead(401, { 'content-type': 'text/html' }).end('<html>Unauthorized</html>');
    const r = await run(['whoami'], env);
    assert.equal(r.code, 77, r.stderr);
    assert.match(r.stderr, /HTTP 401 with a body that is not JSON\nNot logged in/);
  });

  test('a body that is not JSON is reported by its status, none of its bytes (terminal escapes) on stderr', async () => {
    answer = (_req, res) => res.writeHead(502, { 'content-type': 'text/html' }).end('\x1b]0;owned\x07\x1b[2Jbad gateway');
    const r = await run(['whoami'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'the server answered HTTP 502 with a body that is not JSON\n');
  });

  test('an answer past 1 MiB is abandoned with exit 1', async () => {
    // Valid JSON of 3 MiB, sent without a length: only a limit stops a client from buffering it all.
    answer = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"users": [], "total": 0, "padding": "');
      for (let i = 0; i < 48 && !res.destroyed; i += 1) res.write(Buffer.alloc(64 * 1024, 0x20));
      res.end('"}');
    };
    const r = await run(['user', 'list'], env);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'the server answered HTTP 200 with a body larger than 1 MiB\n');
  });

  test('login says a 503 logins_overloaded is too many logins, not an unavailable directory', async () => {
    answer = (_req, res) => res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: { code: 'logins_overloaded', message: 'Internal error' } }));
    const path = join(mkdtempSync(join(tmpdir(), 'pcl-bad-')), 'token.json');
    const r = await run(['login', '--path', path, 'alice', 'Alice-Passw0rd1'], { ...env, PORTCULLIS_TOKEN: '' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /too many logins in progress/);
    assert.doesNotMatch(r.stderr, /directory/);
    assert.ok(!existsSync(path));
  });
});

describe('portcullis serve and config check as processes', () => {
  test('config check accepts a good file and lists every problem of a bad one with exit 78', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'server:\n  listen: 127.0.0.1:18080\n');
    const env = cleanEnv(dir);
    const ok = await run(['config', 'check', '--config', good], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /OK/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'server:\n  listen: nowhere\nldap:\n  url: ldap://127.0.0.1:389\nsession:\n  idle_timeout: 48h\naccess:\n  rules:\n    - name: x\n      paths: ["re:("]\n');
    const r = await run(['config', 'check', '--config', bad], env);
    assert.equal(r.code, 78);
    assert.match(r.stderr, /server\.listen: must be host:port/);
    assert.match(r.stderr, /ldap\.user_base: required when ldap\.url is set/);
    assert.match(r.stderr, /session\.idle_timeout: must not exceed session\.max_lifetime/);
    const unknown = join(dir, 'unknown.yaml');
    writeFileSync(unknown, 'server:\n  listn: x\n');
    const u = await run(['serve', '--config', unknown], env);
    assert.equal(u.code, 78, 'serve refuses the same config with the same exit code');
    assert.match(u.stderr, /server: unknown key: listn/);
  });

  for (const options of [[], GATEWAY_NODE_FLAGS] as const) {
    const started = options.length === 0 ? 'started as `node dist/cli.js` (as from the bin), warns once that the Node options are missing' : 'started with the Node options, does not warn';
    test(`serve starts, answers healthz, and exits 0 on SIGTERM; ${started}`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'pcl-serve-'));
      const port = await freePort();
      const config = join(dir, 'portcullis.yaml');
      writeFileSync(
        config,
        `server:\n  listen: 127.0.0.1:${port}\nmetrics:\n  listen: ""\nstore:\n  url: sqlite:${join(dir, 'data', 'p.db')}\nusers:\n  password_hash_cost: 10\nroutes:\n  - name: echo\n    upstream: builtin:echo\n`,
      );
      const child = spawn(process.execPath, [...options, CLI, 'serve', '--config', config], { env: cleanEnv(dir, { PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const deadline = Date.now() + 15_000;
      let healthy = false;
      while (!healthy && Date.now() < deadline) {
        healthy = await fetch(`http://127.0.0.1:${port}/.auth/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!healthy) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(healthy, out);
      assert.match(out, /"msg":"listening"/);
      const warnings = out.split('\n').filter((line) => line.includes("started without the gateway's Node options"));
      if (options.length === 0) {
        assert.equal(warnings.length, 1, out);
        const warning = JSON.parse(warnings[0] as string) as { level: string; missing: string[]; start_with: string };
        assert.equal(warning.level, 'warn');
        assert.deepEqual(warning.missing, [...GATEWAY_NODE_FLAGS]);
        assert.equal(warning.start_with, `node ${GATEWAY_NODE_FLAGS.join(' ')} dist/cli.js serve`);
      } else {
        assert.deepEqual(warnings, [], out);
      }
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(out, /shutting down/);
      assert.ok(!out.includes(ADMIN_PASSWORD));
    });
  }
});

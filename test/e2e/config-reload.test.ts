/**
 * Configuration reload (SPEC 1) with a real `portcullis serve` process: SIGHUP and `portcullis
 * config reload` apply a rule change while a session and a WebSocket stay open across it; a
 * broken file changes nothing (every problem with its key path, exit 78); what needs a restart is
 * reported and kept.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { stringify } from 'yaml';
import { ADMIN_PASSWORD } from '../helpers/gateway.js';
import { freePort } from '../helpers/slapd.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;
const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');

function configText(port: number, dir: string, upstream: string, secretRoles: string[], extra: Record<string, unknown> = {}): string {
  return stringify({
    server: { listen: `127.0.0.1:${port}`, public_url: 'http://localhost' },
    metrics: { listen: '' },
    store: { url: `sqlite:${join(dir, 'portcullis.db')}` },
    users: { password_hash_cost: 10 },
    routes: [{ name: 'app', path_prefix: '/', upstream }],
    access: { default_policy: 'authenticated', rules: [{ name: 'secret', paths: ['/secret/**'], roles: secretRoles }] },
    ...extra,
  });
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('config reload of a running portcullis serve', () => {
  let dir: string;
  let file: string;
  let upstream: Upstream;
  let port: number;
  let gateway: ChildProcess;
  const lines: string[] = [];
  let url: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pcl-reload-'));
    file = join(dir, 'portcullis.yaml');
    upstream = await startUpstream();
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    writeFileSync(file, configText(port, dir, upstream.url, ['admin']));
    env = { ...process.env, HOME: dir, PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD, PORTCULLIS_TOKEN_FILE: join(dir, 'token.json') };
    for (const key of Object.keys(env)) if (key.startsWith('PORTCULLIS_') && !['PORTCULLIS_ADMIN_PASSWORD', 'PORTCULLIS_TOKEN_FILE'].includes(key)) delete env[key];
    gateway = spawn(process.execPath, [CLI, 'serve', '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const rl = createInterface({ input: gateway.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => lines.push(line));
    for (let waited = 0; waited < 15_000 && !lines.some((l) => l.includes('"listening"')); waited += 100) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      lines.some((l) => l.includes('"listening"')),
      lines.join('\n'),
    );
  });
  after(async () => {
    gateway?.kill('SIGTERM');
    await new Promise((resolve) => gateway?.once('exit', resolve));
    await upstream?.close();
  });

  const until = async (check: () => Promise<boolean>): Promise<boolean> => {
    for (let waited = 0; waited < 5000; waited += 100) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  };

  test('SIGHUP applies a rule change; the session and an open WebSocket stay across it', async () => {
    await fetch(`${url}/.auth/api/users`, {
      method: 'POST',
      headers: { authorization: admin, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: 'Alice-Passw0rd1', roles: ['user'] }),
    });
    const login = await fetch(`${url}/.auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'Alice-Passw0rd1' }) });
    const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
    const secret = (): Promise<number> => fetch(`${url}/secret/x`, { headers: { cookie } }).then((r) => r.status);
    assert.equal(await secret(), 403);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/live`, { headers: { cookie } });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const echo = (text: string): Promise<string> =>
      new Promise((resolve) => {
        ws.once('message', (data) => resolve(String(data)));
        ws.send(text);
      });
    assert.equal(await echo('before'), 'echo:before');

    writeFileSync(file, configText(port, dir, upstream.url, ['admin', 'user']));
    gateway.kill('SIGHUP');
    assert.ok(await until(async () => (await secret()) === 200), 'the new rule took effect for the same session');
    assert.ok(
      lines.some((l) => l.includes('"ConfigReloaded"') && l.includes('access.rules')),
      'ConfigReloaded with what changed',
    );
    assert.equal(await echo('after'), 'echo:after', 'the WebSocket opened before the reload still relays');
    ws.close();
  });

  test('portcullis config reload: a broken file changes nothing and exits 78 with the key paths; restart keys are reported', async () => {
    assert.equal((await run(['login', '--server', url, 'admin', ADMIN_PASSWORD], env)).code, 0);
    writeFileSync(
      file,
      configText(port, dir, upstream.url, ['admin'], { bogus_key: 1, anonymous_user: '1 not a name' }).replace('roles:\n        - admin', 'roles:\n        - admin\n      policy: maybe'),
    );
    const broken = await run(['config', 'reload'], env);
    assert.equal(broken.code, 78, broken.stderr);
    assert.match(broken.stderr, /bogus_key/);
    assert.match(broken.stderr, /access\.rules\.0\.policy|access\.rules\[0\]\.policy/);
    assert.ok(lines.some((l) => l.includes('"ConfigReloadFailed"')));
    const alice = 'Basic ' + Buffer.from('alice:Alice-Passw0rd1').toString('base64');
    assert.equal((await fetch(`${url}/secret/x`, { headers: { authorization: alice } })).status, 200, 'the last good configuration stays');

    writeFileSync(file, configText(port, dir, upstream.url, ['admin'], { store: { url: `sqlite:${join(dir, 'other.db')}` } }));
    const ok = await run(['config', 'reload', '--json'], env);
    assert.equal(ok.code, 0, ok.stderr);
    const answer = JSON.parse(ok.stdout) as { changed: string[]; restart_required: string[] };
    assert.ok(answer.changed.some((key) => key.startsWith('access.rules')));
    assert.deepEqual(answer.restart_required, ['store.url']);
    assert.equal((await fetch(`${url}/secret/x`, { headers: { authorization: alice } })).status, 403, 'the rule change applied');
    assert.equal((await fetch(`${url}/.auth/api/users/alice`, { headers: { authorization: admin } })).status, 200, 'still on the same store');

    const user = await fetch(`${url}/.auth/api/config/reload`, { method: 'POST', headers: { authorization: alice } });
    assert.equal(user.status, 403, 'only admin may reload');
  });
});

/**
 * SPEC 1: `config check` validates exactly as `serve` does. What start-up reads besides the
 * config (seed file, key and CA files, the admin password, the SQLite path) is checked by both
 * before anything else: same messages, exit 78, and `serve` has not created or migrated the store.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname;

function run(args: string[], extraEnv: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PORTCULLIS_')) env[k] = v;
  Object.assign(env, extraEnv);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A serve that got past the checks would keep running: stop it, and the test fails on its code.
    const timer = setTimeout(() => child.kill('SIGTERM'), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'pcl-parity-'));
const seed = join(dir, 'seed.txt');
writeFileSync(seed, 'alice=Alice-Passw0rd\nthis line has TopSecret-Passw0rd but no equals sign\n');

const config = (name: string, extra = ''): { file: string; db: string } => {
  const db = join(dir, `${name}.db`);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `server:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: ""\nstore:\n  url: "sqlite:${db}"\nusers:\n  password_hash_cost: 10\n${extra}`);
  return { file, db };
};

const STRONG = { PORTCULLIS_ADMIN_PASSWORD: 'Admin-Passw0rd!' };
const cases: Array<{ what: string; setup: () => { file: string; db: string }; env: Record<string, string>; expect: RegExp; secret?: string }> = [
  {
    what: 'a malformed users.seed_file',
    setup: () => config('seed', `  seed_file: ${seed}\n`),
    env: STRONG,
    expect: /users\.seed_file: .*seed\.txt:2: expected username\[:role\]=password/,
    secret: 'TopSecret',
  },
  {
    what: 'store.url "sqlite:" with no path',
    setup: () => {
      const made = config('nopath');
      writeFileSync(made.file, 'server:\n  listen: 127.0.0.1:0\nmetrics:\n  listen: ""\nstore:\n  url: "sqlite:"\n');
      return made;
    },
    env: STRONG,
    expect: /store\.url: sqlite: needs a path/,
  },
  {
    what: 'a missing jwt_issuers[].public_key_file',
    setup: () => config('key', `jwt_issuers:\n  - { name: p, issuer: "https://idp.example", audience: a, algorithms: [RS256], public_key_file: ${join(dir, 'absent.pem')} }\n`),
    env: STRONG,
    expect: /jwt_issuers\[0\]\.public_key_file: cannot read .*absent\.pem: ENOENT/,
  },
  {
    what: 'a missing ldap.tls_ca_file',
    setup: () => config('ca', `ldap:\n  url: "ldaps://127.0.0.1:1"\n  user_base: "dc=x"\n  tls_ca_file: ${join(dir, 'absent-ca.pem')}\n`),
    env: STRONG,
    expect: /ldap\.tls_ca_file: cannot read .*absent-ca\.pem: ENOENT/,
  },
  {
    what: 'a PORTCULLIS_ADMIN_PASSWORD that fails users.password_policy',
    setup: () => config('admin'),
    env: { PORTCULLIS_ADMIN_PASSWORD: 'weak-Pw' },
    expect: /PORTCULLIS_ADMIN_PASSWORD: the admin password must be at least 8 characters/,
    secret: 'weak-Pw',
  },
  {
    what: 'an unreadable PORTCULLIS_ADMIN_PASSWORD_FILE',
    setup: () => config('admin-file'),
    env: { PORTCULLIS_ADMIN_PASSWORD_FILE: join(dir, 'absent-password') },
    expect: /PORTCULLIS_ADMIN_PASSWORD_FILE: cannot read .*absent-password: ENOENT/,
  },
];

for (const { what, setup, env, expect, secret } of cases) {
  test(`config check and serve both refuse ${what} with exit 78 before serve touches the store`, async () => {
    const { file, db } = setup();
    const check = await run(['config', 'check', '--config', file], env);
    const serve = await run(['serve', '--config', file], env);
    assert.deepEqual({ check: check.code, serve: serve.code }, { check: 78, serve: 78 }, `serve said: ${serve.stderr}`);
    assert.match(check.stderr, expect);
    assert.equal(serve.stderr, check.stderr, 'the same messages');
    assert.equal(existsSync(db), false, 'serve neither created nor migrated the store');
    if (secret) assert.ok(!check.stderr.includes(secret), check.stderr);
  });
}

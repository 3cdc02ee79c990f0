import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config/load.js';

function problems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  assert.fail('expected the config to be refused');
}

test('embedded defaults give a working configuration', () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.server.listen, '127.0.0.1:8080');
  assert.equal(config.store.url, 'sqlite:./data/portcullis.db');
  assert.equal(config.session.idle_timeout, 2 * 3_600_000);
  assert.equal(config.users.lockout.max_failures, 5);
  assert.equal(config.identity_headers.user, 'X-Auth-User');
  assert.equal(config.access.default_policy, 'deny');
});

test('rejects unknown keys with their key path', () => {
  const found = problems(() => loadConfig({ text: 'server:\n  listn: 1.2.3.4:5\n', env: {} }));
  assert.ok(
    found.some((p) => p.startsWith('server: unknown key') && p.includes('listn')),
    found.join('\n'),
  );
});

test('reports every problem of one file in one run', () => {
  const found = problems(() =>
    loadConfig({
      text: 'server:\n  shutdown_timeout: soon\nldap:\n  url: ldap://127.0.0.1:389\nsession:\n  idle_timeout: 30h\n',
      env: {},
    }),
  );
  assert.ok(
    found.some((p) => p.startsWith('server.shutdown_timeout: not a duration')),
    found.join('\n'),
  );
  // Schema problems are reported first; the cross-field ones once the schema passes.
  const cross = problems(() => loadConfig({ text: 'ldap:\n  url: ldap://127.0.0.1:389\nsession:\n  idle_timeout: 30h\n', env: {} }));
  assert.ok(cross.includes('ldap.user_base: required when ldap.url is set'), cross.join('\n'));
  assert.ok(cross.includes('session.idle_timeout: must not exceed session.max_lifetime'), cross.join('\n'));
});

test('replaces ${ENV} inside strings and refuses a missing variable instead of using ""', () => {
  const config = loadConfig({ text: 'store:\n  url: ${DB_URL}\n', env: { DB_URL: 'postgres://u@h:5432/db' } });
  assert.equal(config.store.url, 'postgres://u@h:5432/db');
  const found = problems(() => loadConfig({ text: 'store:\n  url: ${DB_URL}\n', env: {} }));
  assert.deepEqual(found, ['store.url: environment variable DB_URL is not set']);
});

test('reads a *_file secret and refuses setting both twins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
  const file = join(dir, 'bind');
  writeFileSync(file, 's3cret-bind\n');
  const text = `ldap:\n  url: ldap://127.0.0.1:389\n  user_base: ou=people,dc=x\n  bind_dn: cn=svc,dc=x\n  bind_password_file: ${file}\n`;
  assert.equal(loadConfig({ text, env: {} }).ldap?.bind_password, 's3cret-bind');
  const both = problems(() => loadConfig({ text: text + '  bind_password: other\n', env: {} }));
  assert.ok(
    both.some((p) => p.startsWith('ldap.bind_password_file: set either')),
    both.join('\n'),
  );
  const missing = problems(() => loadConfig({ text: text.replace(file, join(dir, 'nope')), env: {} }));
  assert.ok(
    missing.some((p) => p.startsWith('ldap.bind_password_file: cannot read')),
    missing.join('\n'),
  );
});

test('PORTCULLIS_<PATH> overrides the file, and flags override the environment', () => {
  const text = 'server:\n  listen: 127.0.0.1:1000\n';
  const env = { PORTCULLIS_SERVER_LISTEN: '127.0.0.1:2000', PORTCULLIS_USERS_LOCKOUT_MAX_FAILURES: '9', PORTCULLIS_SERVER_TRUSTED_PROXIES: '10.0.0.0/8, 127.0.0.1' };
  const config = loadConfig({ text, env });
  assert.equal(config.server.listen, '127.0.0.1:2000');
  assert.equal(config.users.lockout.max_failures, 9);
  assert.deepEqual(config.server.trusted_proxies, ['10.0.0.0/8', '127.0.0.1']);
  assert.equal(loadConfig({ text, env, overrides: ['server.listen=127.0.0.1:3000'] }).server.listen, '127.0.0.1:3000');
  const typo = problems(() => loadConfig({ text, env: {}, overrides: ['ldap.bind_password:S3cret-In-A-Typo'] }));
  assert.ok(
    typo.some((p) => p.includes('--set expects key.path=value')),
    typo.join('\n'),
  );
  assert.ok(!typo.some((p) => p.includes('S3cret')), 'a mistyped --set is not echoed: it may hold a secret');
  const bad = problems(() => loadConfig({ text, env: { PORTCULLIS_USERS_LOCKOUT_MAX_FAILURES: 'many' } }));
  assert.ok(
    bad.some((p) => p.includes('PORTCULLIS_USERS_LOCKOUT_MAX_FAILURES: must be a number')),
    bad.join('\n'),
  );
});

test('refuses an LDAP mapping to a privileged role unless allowed', () => {
  const base = 'ldap:\n  url: ldap://127.0.0.1:389\n  user_base: ou=p,dc=x\n  role_mapping: { admins: [admin] }\n';
  const found = problems(() => loadConfig({ text: base, env: {} }));
  assert.ok(
    found.some((p) => p.startsWith('ldap.role_mapping.admins: maps to privileged role admin')),
    found.join('\n'),
  );
  assert.doesNotThrow(() => loadConfig({ text: base + '  allow_privileged_roles: true\n', env: {} }));
});

test('access.privileged_roles must hold admin and api; roles added to it bind LDAP mappings too', () => {
  for (const list of ['[]', '[admin]', '[api, support]']) {
    const found = problems(() => loadConfig({ text: `access:\n  privileged_roles: ${list}\n`, env: {} }));
    assert.ok(
      found.some((p) => p.startsWith('access.privileged_roles: must include')),
      `${list}: ${found.join('\n')}`,
    );
  }
  assert.deepEqual(loadConfig({ text: '', env: {} }).access.privileged_roles, ['admin', 'api', 'org_admin']);
  assert.doesNotThrow(() => loadConfig({ text: 'access:\n  privileged_roles: [admin, api, support]\n', env: {} }));
  const mapped = problems(() =>
    loadConfig({ text: 'access:\n  privileged_roles: [admin, api, support]\nldap:\n  url: ldap://127.0.0.1:389\n  user_base: ou=p,dc=x\n  role_mapping: { helpdesk: [support] }\n', env: {} }),
  );
  assert.ok(
    mapped.some((p) => p.startsWith('ldap.role_mapping.helpdesk: maps to privileged role support')),
    mapped.join('\n'),
  );
});

test('refuses JWT issuers without exactly one key source, short secrets and mixed algorithms', () => {
  const issuer = (extra: string): string => `jwt_issuers:\n  - name: portal\n    issuer: https://portal\n    audience: pcl\n${extra}`;
  const none = problems(() => loadConfig({ text: issuer('    algorithms: [RS256]\n'), env: {} }));
  assert.ok(
    none.some((p) => p.includes('exactly one key source')),
    none.join('\n'),
  );
  const short = problems(() => loadConfig({ text: issuer('    algorithms: [HS256]\n    secret: short\n'), env: {} }));
  assert.ok(short.includes('jwt_issuers[0].secret: must be at least 32 bytes'), short.join('\n'));
  const empty = problems(() => loadConfig({ text: issuer('    algorithms: [HS256]\n    secret: ""\n'), env: {} }));
  assert.ok(
    empty.some((p) => p.includes('HS* algorithms need secret')),
    empty.join('\n'),
  );
  const mixed = problems(() => loadConfig({ text: issuer(`    algorithms: [HS256, RS256]\n    secret: ${'x'.repeat(40)}\n`), env: {} }));
  assert.ok(
    mixed.some((p) => p.includes('cannot mix HS*')),
    mixed.join('\n'),
  );
  const noneAlg = problems(() => loadConfig({ text: issuer('    algorithms: [none]\n    jwks_url: https://x/jwks\n'), env: {} }));
  assert.ok(
    noneAlg.some((p) => p.startsWith('jwt_issuers[0].algorithms[0]')),
    noneAlg.join('\n'),
  );
});

test('refuses identity header names a client or proxy controls', () => {
  const found = problems(() => loadConfig({ text: 'identity_headers:\n  user: X-Forwarded-User\n', env: {} }));
  assert.ok(
    found.some((p) => p.startsWith('identity_headers.user:')),
    found.join('\n'),
  );
});

test('refuses attribute header names used twice, taken by another identity header, or controlled by a proxy', () => {
  const found = problems(() => loadConfig({ text: 'identity_headers:\n  attributes: { machines: X-Auth-User, note: X-Forwarded-Note, a: X-Same, b: x-same }\n', env: {} }));
  assert.ok(
    found.some((p) => p.startsWith('identity_headers.attributes.machines:') && p.includes('same header as identity_headers.user')),
    found.join('\n'),
  );
  assert.ok(
    found.some((p) => p.startsWith('identity_headers.attributes.note:')),
    found.join('\n'),
  );
  assert.ok(
    found.some((p) => p.startsWith('identity_headers.attributes.b:')),
    found.join('\n'),
  );
  const badKey = problems(() => loadConfig({ text: 'identity_headers:\n  attributes: { Bad_Key: X-A }\n', env: {} }));
  assert.ok(
    badKey.some((p) => p.includes('identity_headers.attributes.Bad_Key')),
    badKey.join('\n'),
  );
  const fine = loadConfig({ text: 'identity_headers:\n  attributes: { machines: X-Auth-Machines }\n', env: {} });
  assert.deepEqual(fine.identity_headers.attributes, { machines: 'X-Auth-Machines' });
});

test('refuses malformed YAML with a message instead of crashing', () => {
  const found = problems(() => loadConfig({ text: 'server: [1, 2\n', env: {} }));
  assert.ok(found[0]?.startsWith(': YAML') || found[0]?.includes('YAML'), found.join('\n'));
});

test("a secret set by the environment replaces the file's *_file twin instead of clashing with it", () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
  const file = join(dir, 'bind');
  writeFileSync(file, 'from-file\n');
  const text = `ldap:\n  url: ldap://127.0.0.1:389\n  user_base: ou=people,dc=x\n  bind_dn: cn=svc,dc=x\n  bind_password_file: ${file}\n`;
  assert.equal(loadConfig({ text, env: { PORTCULLIS_LDAP_BIND_PASSWORD: 'from-env' } }).ldap?.bind_password, 'from-env');
  // And the other way round: the environment's file replaces the file's inline secret.
  const inline = text.replace(`bind_password_file: ${file}`, 'bind_password: from-yaml');
  assert.equal(loadConfig({ text: inline, env: { PORTCULLIS_LDAP_BIND_PASSWORD_FILE: file } }).ldap?.bind_password, 'from-file');
  // An empty variable counts as unset: the file's twin stays.
  assert.equal(loadConfig({ text, env: { PORTCULLIS_LDAP_BIND_PASSWORD: '' } }).ldap?.bind_password, 'from-file');
  // One layer setting both twins is still a clash.
  const both = problems(() => loadConfig({ text: inline, env: { PORTCULLIS_LDAP_BIND_PASSWORD: 'x', PORTCULLIS_LDAP_BIND_PASSWORD_FILE: file } }));
  assert.ok(
    both.some((p) => p.startsWith('ldap.bind_password_file: set either')),
    both.join('\n'),
  );
});

test('a secret set by --set replaces the twin the environment or the file set', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
  const file = join(dir, 'bind');
  writeFileSync(file, 'from-file\n');
  const text = `ldap:\n  url: ldap://127.0.0.1:389\n  user_base: ou=people,dc=x\n  bind_dn: cn=svc,dc=x\n  bind_password: from-yaml\n`;
  const env = { PORTCULLIS_LDAP_BIND_PASSWORD: 'from-env' };
  assert.equal(loadConfig({ text, env, overrides: [`ldap.bind_password_file=${file}`] }).ldap?.bind_password, 'from-file');
  const fromEnvFile = { PORTCULLIS_LDAP_BIND_PASSWORD_FILE: file };
  assert.equal(loadConfig({ text, env: fromEnvFile, overrides: ['ldap.bind_password=from-flag'] }).ldap?.bind_password, 'from-flag');
});

test('store.url has a url_file twin, read like the other secrets and never echoed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
  const file = join(dir, 'store-url');
  writeFileSync(file, 'postgres://portcullis:s3cret@db:5432/portcullis\n');
  assert.equal(loadConfig({ text: `store:\n  url_file: ${file}\n`, env: {} }).store.url, 'postgres://portcullis:s3cret@db:5432/portcullis');
  assert.equal(loadConfig({ text: '', env: { PORTCULLIS_STORE_URL_FILE: file } }).store.url, 'postgres://portcullis:s3cret@db:5432/portcullis');
  // The environment's URL wins over the file's url_file (flags > env > file).
  assert.equal(loadConfig({ text: `store:\n  url_file: ${file}\n`, env: { PORTCULLIS_STORE_URL: 'sqlite::memory:' } }).store.url, 'sqlite::memory:');
  const both = problems(() => loadConfig({ text: `store:\n  url: "sqlite::memory:"\n  url_file: ${file}\n`, env: {} }));
  assert.deepEqual(both, ['store.url_file: set either url or url_file, not both']);
  writeFileSync(file, 'mysql://portcullis:s3cret@db/portcullis\n');
  const wrong = problems(() => loadConfig({ text: `store:\n  url_file: ${file}\n`, env: {} }));
  assert.ok(
    wrong.some((p) => p.startsWith('store.url:')),
    wrong.join('\n'),
  );
  assert.ok(!wrong.some((p) => p.includes('s3cret')), wrong.join('\n'));
});

test('only keys the schema pairs with a *_file twin are read from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pcl-cfg-'));
  const file = join(dir, 'x');
  writeFileSync(file, 'https://elsewhere.example/\n');
  // events.webhooks[].url has no url_file twin: an unknown key, and the file is not read into url.
  const found = problems(() => loadConfig({ text: `events:\n  webhooks:\n    - url: https://hooks.example.org/x\n      url_file: ${file}\n      secret: ${'k'.repeat(32)}\n`, env: {} }));
  assert.deepEqual(found, ['events.webhooks[0]: unknown key: url_file']);
});

/**
 * The preflight of loadGatewayConfig: what start-up reads besides the config (seed file, issuer
 * key files, the LDAP CA bundle, the admin password from the environment, the SQLite path) is
 * checked with start-up's own parsers, so `config check` finds it and `serve` refuses it before
 * touching the store. Every problem names its key path or variable; no secret is repeated.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadGatewayConfig } from '../../../src/app/check.js';
import { ConfigError } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'pcl-preflight-'));
const GOOD_CA = fileURLToPath(new URL('../../fixtures/ldap/other-ca.pem', import.meta.url));
const STRONG = 'Admin-Passw0rd!';

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

function problems(text: string, env: NodeJS.ProcessEnv = { PORTCULLIS_ADMIN_PASSWORD: STRONG }): string[] {
  try {
    loadGatewayConfig({ text, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

const issuer = (keyFile: string): string => `jwt_issuers:\n  - name: portal\n    issuer: https://portal.example\n    audience: pcl\n    algorithms: [RS256]\n    public_key_file: ${keyFile}\n`;
const ldap = (caFile: string): string => `ldap:\n  url: ldaps://127.0.0.1:636\n  user_base: ou=people,dc=x\n  tls_ca_file: ${caFile}\n`;

test('accepts what start-up accepts: a good seed file, public key, CA bundle and admin password', () => {
  const seed = write('good-seed.txt', '# staff\nalice=Alice-Passw0rd\nbob:ro=Bob-Passw0rd\n');
  const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const key = write('good-key.pem', pem);
  const text = `users:\n  seed_file: ${seed}\n${issuer(key)}${ldap(GOOD_CA)}`;
  assert.deepEqual(problems(text), []);
  // A missing seed file seeds nothing (SPEC 9), so it is no problem either.
  assert.deepEqual(problems(`users:\n  seed_file: ${join(dir, 'absent.txt')}\n`), []);
  // No admin password at all: start-up generates one.
  assert.deepEqual(problems('', {}), []);
});

test('a malformed seed file is reported at users.seed_file with its line number, never a password', () => {
  const seed = write('bad-seed.txt', 'alice=Alice-Passw0rd\nbob:wizard=TopSecret-Passw0rd\n');
  const found = problems(`users:\n  seed_file: ${seed}\n`);
  assert.deepEqual(found, [`users.seed_file: ${seed}:2: unknown role after ":" (known: admin, support, manager, user, api, ro, readonly, wo, writeonly, rw, readwrite)`]);
  assert.ok(!found.join('\n').includes('TopSecret'));
  const unreadable = problems(`users:\n  seed_file: ${dir}\n`);
  assert.deepEqual(unreadable, [`users.seed_file: cannot read ${dir}: EISDIR`]);
});

test('store.url "sqlite:" without a path is reported at store.url', () => {
  assert.deepEqual(problems('store:\n  url: "sqlite:"\n'), ['store.url: sqlite: needs a path, e.g. sqlite:./data/portcullis.db (or sqlite::memory:)']);
  assert.deepEqual(problems('store:\n  url: "sqlite://"\n'), ['store.url: sqlite: needs a path, e.g. sqlite:./data/portcullis.db (or sqlite::memory:)']);
});

test('an unreadable or unparsable issuer public_key_file is reported at its key path without quoting the file', () => {
  assert.deepEqual(problems(issuer(join(dir, 'no-such-key.pem'))), [`jwt_issuers[0].public_key_file: cannot read ${join(dir, 'no-such-key.pem')}: ENOENT`]);
  const garbage = write('garbage-key.pem', 'Not-A-Key-But-Maybe-A-Secret\n');
  const found = problems(issuer(garbage));
  assert.deepEqual(found, [`jwt_issuers[0].public_key_file: ${garbage}: not a PEM (SPKI) public key, a JWK or a JWKS`]);
  // JSON.parse quotes what it choked on: its message is not passed on.
  const badJson = write('bad-json-key.json', '{ Not-Json-But-Maybe-A-Secret');
  assert.deepEqual(problems(issuer(badJson)), [`jwt_issuers[0].public_key_file: ${badJson}: not a PEM (SPKI) public key, a JWK or a JWKS`]);
  const json = write('garbage-key.json', '{"keys": [{"kty": "oct", "k": "Shared-Secret-Bytes"}]}');
  const privateJwk = problems(issuer(json));
  assert.deepEqual(privateJwk, [`jwt_issuers[0].public_key_file: ${json}: only public keys belong in public_key_file`]);
  assert.ok(!privateJwk.join('\n').includes('Shared-Secret'));
});

test('an unreadable or invalid ldap.tls_ca_file is reported at ldap.tls_ca_file', () => {
  assert.deepEqual(problems(ldap(join(dir, 'no-such-ca.pem'))), [`ldap.tls_ca_file: cannot read ${join(dir, 'no-such-ca.pem')}: ENOENT`]);
  const notPem = write('not-pem.pem', 'hello\n');
  assert.deepEqual(problems(ldap(notPem)), [`ldap.tls_ca_file: ${notPem}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`]);
  const broken = write('broken.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  assert.deepEqual(problems(ldap(broken)), [`ldap.tls_ca_file: ${broken}: certificate 1 of 1 does not parse`]);
});

test('an admin password from the environment that fails the policy is reported by variable name, never shown', () => {
  const weak = 'weakpassword1';
  const found = problems('', { PORTCULLIS_ADMIN_PASSWORD: weak });
  assert.deepEqual(found, ['PORTCULLIS_ADMIN_PASSWORD: the admin password must contain an upper-case letter (users.password_policy)']);
  const file = write('admin-password', `${weak}\n`);
  const fromFile = problems('', { PORTCULLIS_ADMIN_PASSWORD_FILE: file });
  assert.deepEqual(fromFile, ['PORTCULLIS_ADMIN_PASSWORD_FILE: the admin password must contain an upper-case letter (users.password_policy)']);
  assert.ok(![...found, ...fromFile].join('\n').includes(weak));
  assert.deepEqual(problems('', { PORTCULLIS_ADMIN_PASSWORD_FILE: join(dir, 'absent') }), [`PORTCULLIS_ADMIN_PASSWORD_FILE: cannot read ${join(dir, 'absent')}: ENOENT`]);
  // The policy is the configured one.
  assert.deepEqual(problems('users:\n  password_policy: { require_upper: false }\n', { PORTCULLIS_ADMIN_PASSWORD: weak }), []);
  // As at start-up, a non-empty PORTCULLIS_ADMIN_PASSWORD wins over the file.
  assert.deepEqual(problems('', { PORTCULLIS_ADMIN_PASSWORD: STRONG, PORTCULLIS_ADMIN_PASSWORD_FILE: file }), []);
});

test("every preflight problem of one config is reported in one run, with the other checks' problems", () => {
  const seed = write('bad-seed-2.txt', 'no equals sign here\n');
  const text = `server:\n  listen: nowhere\nstore:\n  url: "sqlite:"\nusers:\n  seed_file: ${seed}\n${issuer(join(dir, 'nope.pem'))}${ldap(join(dir, 'nope-ca.pem'))}`;
  const paths = problems(text, { PORTCULLIS_ADMIN_PASSWORD: 'short' }).map((p) => p.split(': ')[0]);
  assert.deepEqual(paths.sort(), ['PORTCULLIS_ADMIN_PASSWORD', 'jwt_issuers[0].public_key_file', 'ldap.tls_ca_file', 'server.listen', 'store.url', 'users.seed_file']);
});

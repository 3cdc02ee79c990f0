import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../../src/app/check.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-upstream-config-'));
const edFile = join(dir, 'ed.pem');
writeFileSync(edFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
const rsaFile = join(dir, 'rsa.pem');
writeFileSync(rsaFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
const shortSecret = join(dir, 'short');
writeFileSync(shortSecret, 'x'.repeat(31) + '\n');
const longSecret = join(dir, 'long');
writeFileSync(longSecret, 'x'.repeat(32) + '\n');
const goodKey = join(dir, 'secret.key');
writeFileSync(goodKey, randomBytes(32).toString('hex') + '\n');
const badKey = join(dir, 'bad.key');
writeFileSync(badKey, 'not-hex-at-all\n');

function problems(route: Record<string, unknown>, server: Record<string, unknown> = {}): string[] {
  const text = stringify({ server: { ...server }, store: { url: 'sqlite::memory:' }, routes: [{ name: 'app', upstream: 'http://127.0.0.1:1', ...route }] });
  try {
    loadGatewayConfig({ text, env: { PORTCULLIS_ADMIN_PASSWORD: 'Admin-Passw0rd!' } });
    return [];
  } catch (err) {
    return ((err as { problems?: Array<{ path: string; message: string }> }).problems ?? []).map((p) => `${p.path}: ${p.message}`);
  }
}

const jwt = (extra: Record<string, unknown>) => ({
  upstream_auth: { type: 'jwt', algorithm: 'EdDSA', key_file: edFile, claims: { sub: '{username}' }, deliver: { header: 'X-Auth-Token' }, ...extra },
});

test('a valid jwt, basic and header upstream_auth pass config check', () => {
  assert.deepEqual(problems(jwt({})), []);
  assert.deepEqual(problems(jwt({ algorithm: 'RS256', key_file: rsaFile, deliver: { header: 'Authorization', scheme: 'Bearer' } })), []);
  assert.deepEqual(problems(jwt({ algorithm: 'HS256', key_file: longSecret, deliver: { cookie: 'cc-jwt' } })), []);
  assert.deepEqual(problems({ upstream_auth: { type: 'basic', accounts: [{ roles: ['user'], username: 'rw', password_file: longSecret }] } }), []);
  assert.deepEqual(
    problems({ upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true, fallback: { roles: ['readonly'], value_file: longSecret } } }, { secret_key_file: goodKey }),
    [],
  );
});

test('config check refuses an unreadable key file', () => {
  assert.ok(problems(jwt({ key_file: join(dir, 'missing.pem') })).some((p) => p.startsWith('routes[0].upstream_auth.key_file: cannot read') && p.includes('ENOENT')));
});

test('config check refuses an RSA key for EdDSA and an Ed25519 key for RS256', () => {
  assert.ok(
    problems(jwt({ key_file: rsaFile })).some((p) => p.includes('EdDSA needs an Ed25519 private key')),
    String(problems(jwt({ key_file: rsaFile }))),
  );
  assert.ok(problems(jwt({ algorithm: 'RS256' })).some((p) => p.includes('RS256 needs an RSA private key')));
});

test('config check refuses an HS secret shorter than 32 bytes', () => {
  assert.ok(problems(jwt({ algorithm: 'HS512', key_file: shortSecret })).some((p) => p.includes('at least 32 bytes')));
});

test('config check refuses an unknown template name', () => {
  const found = problems(jwt({ claims: { sub: '{user}', roles: ['{roles}', '{attr.Bad-Key}'] } }));
  assert.ok(found.some((p) => p.startsWith('routes[0].upstream_auth.claims.sub: unknown template {user}')));
  assert.ok(found.some((p) => p.startsWith('routes[0].upstream_auth.claims.roles: unknown template {attr.Bad-Key}')));
  assert.deepEqual(problems(jwt({ claims: { sub: 'u-{username}', o: '{organisation}', m: '{attr.machines}' } })), []);
});

test('config check refuses per_user without server.secret_key_file, and a secret key that is not 64 hex characters', () => {
  const route = { upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true } };
  assert.ok(problems(route).some((p) => p.startsWith('routes[0].upstream_auth.per_user: needs server.secret_key_file')));
  assert.ok(problems(route, { secret_key_file: badKey }).some((p) => p.startsWith('server.secret_key_file: must be 32 random bytes as 64 hex characters')));
  assert.ok(problems(route, { secret_key_file: join(dir, 'nope') }).some((p) => p.startsWith('server.secret_key_file: cannot read')));
});

test('config check refuses keys of another type and a missing deliver', () => {
  const found = problems({ upstream_auth: { type: 'jwt', algorithm: 'EdDSA', key_file: edFile, accounts: [{ username: 'x', password: 'y' }] } });
  assert.ok(found.some((p) => p.startsWith('routes[0].upstream_auth.accounts: not a key of type jwt')));
  assert.ok(found.some((p) => p.startsWith('routes[0].upstream_auth.deliver: required')));
  assert.ok(problems({ upstream_auth: { type: 'basic', accounts: [] } }).some((p) => p.startsWith('routes[0].upstream_auth.accounts: required')));
});

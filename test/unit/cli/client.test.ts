import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiError, currentSession, plainTextWarning, writeTokenFile } from '../../../src/cli/client.js';

const saved = { server: 'https://gw.example:8443', username: 'alice', token: 'pcl_secret', expires_at: '' };

test('a saved token goes only to the server that issued it', () => {
  const home = mkdtempSync(join(tmpdir(), 'pcl-cli-'));
  const path = join(home, 'token.json');
  writeTokenFile(path, saved, { HOME: home });
  assert.equal(currentSession(path, {}).server, saved.server);
  assert.equal(currentSession(path, { PORTCULLIS_SERVER: 'https://gw.example:8443/' }).token, 'pcl_secret', 'the same origin spelled differently');
  assert.throws(() => currentSession(path, { PORTCULLIS_SERVER: 'http://127.0.0.1:9999' }), /saved token is for https:\/\/gw\.example:8443/);
  assert.throws(() => currentSession(path, { PORTCULLIS_SERVER: 'http://gw.example:8443' }), /saved token/, 'http is another origin');
  // A token given in the environment goes with the server given there.
  assert.equal(currentSession(path, { PORTCULLIS_TOKEN: 'pcl_env', PORTCULLIS_SERVER: 'http://127.0.0.1:9999' }).server, 'http://127.0.0.1:9999');
});

test('the token file is written through no planted link, and the default directory becomes 0700', () => {
  const home = mkdtempSync(join(tmpdir(), 'pcl-cli-'));
  const shared = join(home, 'shared');
  mkdirSync(shared);
  const bait = join(home, 'bait');
  writeFileSync(bait, 'untouched');
  const path = join(shared, 'tok.json');
  // The temporary name an earlier version used: predictable from the pid.
  symlinkSync(bait, `${path}.${process.pid}.tmp`);
  writeTokenFile(path, saved, { HOME: home });
  assert.equal(readFileSync(bait, 'utf8'), 'untouched');
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).token, 'pcl_secret');
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(shared).filter((name) => name.endsWith('.tmp') && !name.includes(String(process.pid))), [], 'no temporary file left');

  const defaultDir = join(home, '.portcullis');
  mkdirSync(defaultDir, { mode: 0o755 });
  chmodSync(defaultDir, 0o755);
  writeTokenFile(join(defaultDir, 'auth-token.json'), saved, { HOME: home });
  assert.equal(statSync(defaultDir).mode & 0o777, 0o700);
});

test('plain http to another host is warned about; loopback and https are not', () => {
  assert.match(plainTextWarning('http://gw.example:8080') ?? '', /plain http/);
  assert.match(plainTextWarning('http://192.0.2.2') ?? '', /plain http/);
  for (const quiet of ['http://127.0.0.1:8080', 'http://localhost', 'http://[::1]:8080', 'https://gw.example']) assert.equal(plainTextWarning(quiet), undefined, quiet);
});

test("the server's error text reaches the terminal without control characters", () => {
  const error = apiError(400, { error: { message: 'bad\u001b[2Jthing\u009b31m', fields: { 'x\u0007': 'y\r\nz' } } });
  assert.equal(error.message, 'bad?[2Jthing?31m\n  x?: y??z');
});

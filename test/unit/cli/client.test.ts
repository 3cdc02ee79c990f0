import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError, EXIT, apiError, call, currentSession, plainTextWarning, writeTokenFile } from '../../../src/cli/client.js';

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

test('a saved server that is no URL matches only the same text in PORTCULLIS_SERVER', () => {
  const home = mkdtempSync(join(tmpdir(), 'pcl-cli-'));
  const path = join(home, 'token.json');
  writeTokenFile(path, { ...saved, server: 'gw example' }, { HOME: home });
  assert.equal(currentSession(path, { PORTCULLIS_SERVER: 'gw example' }).token, 'pcl_secret');
  assert.throws(() => currentSession(path, { PORTCULLIS_SERVER: 'gw other' }), /saved token is for gw example/);
  assert.throws(() => currentSession(path, { PORTCULLIS_SERVER: 'https://gw.example:8443' }), /saved token/);
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
  assert.deepEqual(
    readdirSync(shared).filter((name) => name.endsWith('.tmp') && !name.includes(String(process.pid))),
    [],
    'no temporary file left',
  );

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

test('loopback is decided by address: a DNS name that looks like 127.x or localhost is warned about', () => {
  for (const remote of ['http://127.evil.example:8080', 'http://127.0.0.1.nip.io', 'http://localhost.evil.example', 'http://[::2]', 'http://128.0.0.1']) {
    assert.match(plainTextWarning(remote) ?? '', /plain http/, remote);
  }
  // The whole of 127.0.0.0/8, and the spellings the URL parser turns into it.
  for (const quiet of ['http://127.8.9.10', 'http://127.1', 'http://0x7f.1', 'http://LOCALHOST:8080', 'http://[0:0::1]', 'http://[::ffff:127.0.0.1]']) {
    assert.equal(plainTextWarning(quiet), undefined, quiet);
  }
});

test("the server's error text reaches the terminal without control characters", () => {
  const error = apiError(400, { error: { message: 'bad\u001b[2Jthing\u009b31m', fields: { 'x\u0007': 'y\r\nz' } } });
  assert.equal(error.message, 'bad?[2Jthing?31m\n  x?: y??z');
});

const session = { server: 'http://gw.example', token: 'pcl_secret' };
const answering = (body: string, status: number): typeof fetch => (async () => new Response(body, { status, headers: { 'content-type': 'text/html' } })) as typeof fetch;

async function failure(promise: Promise<unknown>): Promise<CliError> {
  const err = await promise.then(
    () => assert.fail('the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CliError, String(err));
  return err;
}

test('an answer whose body is not JSON is judged by its status: a 401 from a front proxy is still not logged in', async () => {
  const unauthorised = await failure(call(session, 'GET', '/me', undefined, { fetch: answering('<html>Unauthorized</html>', 401) }));
  assert.equal(unauthorised.exitCode, EXIT.notAllowed);
  assert.match(unauthorised.message, /^the server answered HTTP 401 with a body that is not JSON\nNot logged in/);
  assert.equal((await failure(call(session, 'GET', '/users', undefined, { fetch: answering('<html>Forbidden</html>', 403) }))).exitCode, EXIT.notAllowed);
  const ok = await failure(call(session, 'GET', '/me', undefined, { fetch: answering('<html>a login page</html>', 200) }));
  assert.equal(ok.exitCode, EXIT.error);
  assert.equal(ok.message, 'the server answered HTTP 200 with a body that is not JSON');
});

test("a body that is not JSON never reaches the terminal: not its escape sequences, not a parser's quote of it", async () => {
  const err = await failure(call(session, 'GET', '/me', undefined, { fetch: answering('\u001b]0;owned\u0007\u001b[2Jbad gateway', 502) }));
  assert.equal(err.exitCode, EXIT.error);
  assert.equal(err.message, 'the server answered HTTP 502 with a body that is not JSON');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT } from '../../../src/cli/client.js';
import { loginError } from '../../../src/cli/login.js';

const error = (code: string, message: string) => ({ kind: 'json' as const, value: { error: { code, message } } });

test('a 503 says what the server said was unavailable: too many logins is not a directory outage', () => {
  const overloaded = loginError(503, error('logins_overloaded', 'Internal error'));
  assert.equal(overloaded.message, 'The gateway has too many logins in progress; try again shortly');
  assert.equal(overloaded.exitCode, EXIT.error);
  assert.equal(loginError(503, error('directory_unavailable', 'The directory is unavailable')).message, 'The directory is unavailable; try again later');
  assert.equal(loginError(503, error('not_ready', 'The service is not ready')).message, 'The gateway is not ready; try again later');
});

test("another error is told in the server's words without their control characters, and a body that is not JSON by its status only", () => {
  const other = loginError(503, error('maintenance', 'Down\u001b[2J for maintenance'));
  assert.equal(other.message, 'Down?[2J for maintenance');
  assert.equal(other.exitCode, EXIT.error);
  const html = loginError(503, { kind: 'not_json' });
  assert.equal(html.message, 'login failed: the server answered HTTP 503 with a body that is not JSON');
  assert.doesNotMatch(html.message, /directory/);
  assert.equal(loginError(201, { kind: 'json', value: {} }).message, 'login failed: the server answered HTTP 201 without a token');
});

test('a 401 is the one login failure whatever its body, and exits 77', () => {
  for (const body of [{ kind: 'not_json' as const }, error('invalid_credentials', 'Invalid username or password'), { kind: 'too_large' as const }]) {
    const err = loginError(401, body);
    assert.equal(err.message, 'Invalid username or password');
    assert.equal(err.exitCode, EXIT.notAllowed);
  }
});

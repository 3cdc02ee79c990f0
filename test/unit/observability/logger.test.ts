import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus } from '../../../src/events/bus.js';
import { createLogger, sanitiseUsername } from '../../../src/observability/logger.js';

test('usernames in events are truncated to 256 characters with control characters escaped', () => {
  assert.equal(sanitiseUsername('a'.repeat(300)).length, 256);
  assert.equal(sanitiseUsername('evil\n{"event":"UserLoggedIn"}'), 'evil\\u000a{"event":"UserLoggedIn"}');
  assert.equal(sanitiseUsername(undefined), '');
});

test('a credential given as a username is replaced, not recorded', () => {
  const token = 'pcl_' + 'A1b2_C3d-'.repeat(5).slice(0, 43);
  const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWJ5dGVz';
  assert.equal(sanitiseUsername(token), '(redacted: a credential, 47 characters)');
  assert.equal(sanitiseUsername(jwt), `(redacted: a credential, ${jwt.length} characters)`);
  assert.equal(sanitiseUsername(jwt + ' '), `(redacted: a credential, ${jwt.length + 1} characters)`, 'with the trailing blank of a copy and paste');
  for (const name of ['pcl_admin', 'alice', 'eyJane', 'bob.smith@example.org']) assert.equal(sanitiseUsername(name), name, 'ordinary names stay');
});

test('an event is one JSON line and never carries password, token, cookie or hash fields', () => {
  const lines: string[] = [];
  const bus = new EventBus({ logger: createLogger({ write: (l) => lines.push(l) }), now: () => Date.UTC(2026, 10, 22, 10) });
  bus.emit(
    'UserLoginFailed',
    'al\rice',
    { user_type: 'local', reason: 'bad_password', method: 'form', password: 'hunter2', token: 'pcl_x', cookie: 'c', password_hash: 'h' },
    { ip: '127.0.0.1', user_agent: 'curl/8', request_id: 'r1' },
  );
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n') && !lines[0].slice(0, -1).includes('\n'));
  const event = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.deepEqual(event, {
    event: 'UserLoginFailed',
    time: '2026-11-22T10:00:00.000Z',
    username: 'al\\u000dice',
    user_type: 'local',
    reason: 'bad_password',
    method: 'form',
    ip: '127.0.0.1',
    user_agent: 'curl/8',
    request_id: 'r1',
  });
});

test("a token's id is kept in events, the token itself is not", () => {
  const lines: string[] = [];
  const bus = new EventBus({ logger: createLogger({ write: (l) => lines.push(l) }), now: () => Date.UTC(2026, 10, 22, 10) });
  bus.emit('TokenCreated', 'alice', { actor: 'alice', token_id: 'tok-1', kind: 'opaque', token: 'pcl_secret', token_hash: 'h' });
  const event = JSON.parse(lines[0] as string) as Record<string, unknown>;
  assert.equal(event.token_id, 'tok-1');
  assert.equal(event.token, undefined);
  assert.equal(event.token_hash, undefined);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PortcullisError } from '../../../src/errors/errors.js';
import { EventBus } from '../../../src/events/bus.js';
import type { PortcullisEvent } from '../../../src/events/types.js';
import { createLogger } from '../../../src/observability/logger.js';
import { openStore } from '../../../src/store/open.js';
import { PasswordHasher } from '../../../src/users/password-hash.js';
import { UserService } from '../../../src/users/user-service.js';

const MIN = 60_000;
const policy = { min_length: 8, max_length: 64, require_upper: true, require_lower: true, require_digit_or_special: true };
const code = (expected: string) => (err: unknown) => err instanceof PortcullisError && err.code === expected;

test('changeOwnPassword locks the name after users.lockout wrong current passwords and lets it go after the duration', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    let now = 1_800_000_000_000;
    const events = new EventBus({ logger: createLogger({ write: () => undefined }), now: () => now });
    const seen: PortcullisEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const users = new UserService({ store, hasher: new PasswordHasher(10), policy, events, lockout: { max_failures: 3, window: 10 * MIN, duration: 5 * MIN }, now: () => now });
    await users.create({ username: 'Erin', password: 'Erin-Passw0rd!', roles: ['user'] }, { username: 'admin' });
    for (let i = 0; i < 3; i++) await assert.rejects(users.changeOwnPassword('erin', 'Wrong-Passw0rd!', 'Next-Passw0rd1!'), code('validation_failed'));
    await assert.rejects(users.changeOwnPassword('erin', undefined, 'Next-Passw0rd1!'), code('too_many_requests'));
    assert.equal(await store.getLockout('erin'), now + 5 * MIN, 'the same lockout record the password chain checks');
    await assert.rejects(users.changeOwnPassword('erin', 'Erin-Passw0rd!', 'Next-Passw0rd1!'), (err: unknown) => code('too_many_requests')(err) && (err as PortcullisError).status === 429);
    assert.deepEqual(
      seen.filter((e) => e.event === 'UserLoginFailed').map((e) => [e.username, e.reason, e.user_type]),
      [...Array.from({ length: 3 }, () => ['Erin', 'bad_password', 'local']), ['Erin', 'locked_out', 'local'], ['Erin', 'locked_out', 'local']],
    );
    now += 5 * MIN + 1;
    const changed = await users.changeOwnPassword('erin', 'Erin-Passw0rd!', 'Next-Passw0rd1!');
    assert.equal(changed.must_change_password, false);
    const next = await store.reserveLoginAttempt('erin', now, 0, 100);
    assert.ok(next.admitted && next.failures === 1, 'the success cleared the earlier failures');
  } finally {
    await store.close();
  }
});

test('failures outside the window do not add up to a lockout', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    let now = 1_800_000_000_000;
    const events = new EventBus({ logger: createLogger({ write: () => undefined }) });
    const users = new UserService({ store, hasher: new PasswordHasher(10), policy, events, lockout: { max_failures: 2, window: MIN, duration: MIN }, now: () => now });
    await users.create({ username: 'fay', password: 'Fay-Passw0rd!', roles: ['user'] }, undefined);
    await assert.rejects(users.changeOwnPassword('fay', 'Wrong-Passw0rd!', 'Next-Passw0rd1!'), code('validation_failed'));
    now += 2 * MIN;
    await assert.rejects(users.changeOwnPassword('fay', 'Wrong-Passw0rd!', 'Next-Passw0rd1!'), code('validation_failed'));
    assert.equal(await store.getLockout('fay'), undefined);
    await users.changeOwnPassword('fay', 'Fay-Passw0rd!', 'Next-Passw0rd1!');
  } finally {
    await store.close();
  }
});

test('parallel guesses at the current password cannot overrun the lockout', async () => {
  const store = await openStore('sqlite::memory:');
  try {
    await store.migrate();
    const events = new EventBus({ logger: createLogger({ write: () => undefined }) });
    const seen: PortcullisEvent[] = [];
    events.subscribe((e) => seen.push(e));
    const hasher = new PasswordHasher(10);
    const users = new UserService({ store, hasher, policy, events, lockout: { max_failures: 3, window: 10 * MIN, duration: 10 * MIN } });
    await users.create({ username: 'gus', password: 'Gus-Passw0rd!', roles: ['user'] }, undefined);
    const guesses = [...Array.from({ length: 11 }, (_, i) => `Guess-${i}-Passw0rd!`), 'Gus-Passw0rd!'];
    const results = await Promise.allSettled(guesses.map((guess) => users.changeOwnPassword('gus', guess, 'Next-Passw0rd1!')));
    const codes = results.map((r) => (r.status === 'rejected' && r.reason instanceof PortcullisError ? r.reason.code : r.status));
    assert.deepEqual(codes, [...Array.from({ length: 3 }, () => 'validation_failed'), ...Array.from({ length: 9 }, () => 'too_many_requests')]);
    assert.equal(seen.filter((e) => e.event === 'UserLoginFailed' && e.reason === 'bad_password').length, 3);
    const user = await store.getUser('gus');
    assert.ok(user?.password_hash && (await hasher.verify('Gus-Passw0rd!', user.password_hash)), 'the password is unchanged');
  } finally {
    await store.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PasswordHasher } from '../../../src/users/password-hash.js';
import { generatePassword, passwordProblem } from '../../../src/users/password-policy.js';

const hasher = new PasswordHasher(10);
const policy = { min_length: 8, max_length: 64, require_upper: true, require_lower: true, require_digit_or_special: true };

test('hashes in a self-describing scrypt format with a random salt', async () => {
  const a = await hasher.hash('Corr3ct-horse');
  const b = await hasher.hash('Corr3ct-horse');
  assert.match(a, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  assert.notEqual(a, b);
  assert.ok(!a.includes('Corr3ct-horse'));
});

test('verifies the right password and refuses a wrong or empty one', async () => {
  const stored = await hasher.hash('Corr3ct-horse');
  assert.equal(await hasher.verify('Corr3ct-horse', stored), true);
  assert.equal(await hasher.verify('corr3ct-horse', stored), false);
  assert.equal(await hasher.verify('', stored), false);
});

test('fails closed on a malformed stored hash', async () => {
  assert.equal(await hasher.verify('x', 'plaintext'), false);
  assert.equal(await hasher.verify('x', '$scrypt$ln=99,r=8,p=1$AAAA$AAAA'), false);
});

test('keeps verifying hashes made with other parameters and says they need a rehash', async () => {
  const old = await new PasswordHasher(10).hash('Corr3ct-horse');
  const stronger = new PasswordHasher(11);
  assert.equal(await stronger.verify('Corr3ct-horse', old), true);
  assert.equal(stronger.needsRehash(old), true);
  assert.equal(stronger.needsRehash(await stronger.hash('x')), false);
});

test('names the first unmet password requirement', () => {
  assert.equal(passwordProblem('Sh0rt', policy), 'must be at least 8 characters');
  assert.equal(passwordProblem('alllower1', policy), 'must contain an upper-case letter');
  assert.equal(passwordProblem('ALLUPPER1', policy), 'must contain a lower-case letter');
  assert.equal(passwordProblem('NoDigitsHere', policy), 'must contain a digit or a special character');
  assert.equal(passwordProblem('x'.repeat(65), policy), 'must be at most 64 characters');
  assert.equal(passwordProblem('Good-Passw0rd', policy), undefined);
  assert.equal(passwordProblem(42, policy), 'must be a string');
});

test('generated passwords satisfy the policy and differ every time', () => {
  const a = generatePassword();
  assert.equal(passwordProblem(a, policy), undefined);
  assert.notEqual(a, generatePassword());
});

test('a wrong password on a hash of an older, cheaper cost spends at least the configured cost, as an unknown name does', async () => {
  // Cost 10 is 1/16 of the work of cost 14: without the padding the wrong password answers in a
  // fraction of the dummy's time, and the time tells an existing name from an unknown one.
  const old = await new PasswordHasher(10).hash('Corr3ct-horse');
  const current = new PasswordHasher(14);
  const fastest = async (work: () => Promise<unknown>): Promise<number> => {
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await work();
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  const unknown = await fastest(() => current.verifyDummy('Wr0ng-horse'));
  const wrong = await fastest(() => current.verify('Wr0ng-horse', old));
  assert.ok(wrong >= unknown * 0.5, `wrong password on the old hash took ${wrong.toFixed(1)} ms, an unknown name ${unknown.toFixed(1)} ms`);
  assert.equal(await current.verify('Corr3ct-horse', old), true, 'the old hash still verifies');
});

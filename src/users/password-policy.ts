import { randomInt } from 'node:crypto';
import type { PasswordPolicy } from '../config/schema.js';

/** Returns the first unmet requirement as a sentence, or undefined when the password passes. */
export function passwordProblem(password: unknown, policy: PasswordPolicy): string | undefined {
  if (typeof password !== 'string') return 'must be a string';
  const length = [...password].length;
  if (length < policy.min_length) return `must be at least ${policy.min_length} characters`;
  if (length > policy.max_length) return `must be at most ${policy.max_length} characters`;
  if (policy.require_upper && !/\p{Lu}/u.test(password)) return 'must contain an upper-case letter';
  if (policy.require_lower && !/\p{Ll}/u.test(password)) return 'must contain a lower-case letter';
  if (policy.require_digit_or_special && !/[^\p{L}]/u.test(password)) return 'must contain a digit or a special character';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(password)) return 'must not contain control characters';
  return undefined;
}

/** A random password (24 characters, about 130 bits) that satisfies any sane policy (bootstrap admin). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  const chars: string[] = [];
  for (let i = 0; i < 21; i++) chars.push(alphabet[randomInt(alphabet.length)] as string);
  // One of each class the policy may demand, each at a random position (no fixed pattern).
  for (const pool of ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789']) {
    chars.splice(randomInt(chars.length + 1), 0, pool[randomInt(pool.length)] as string);
  }
  return chars.join('');
}

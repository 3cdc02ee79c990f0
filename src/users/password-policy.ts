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

/** A random password (about 118 bits) that satisfies any sane policy (bootstrap admin). */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  let out = '';
  for (let i = 0; i < 20; i++) out += alphabet[randomInt(alphabet.length)];
  // Guarantee each character class regardless of the random draw.
  return `${out}A9z-`;
}

/**
 * User attributes (SPEC 16): keys `^[a-z][a-z0-9_]{0,63}$`, each a list of strings; at most
 * 32 keys, 64 values per key, 256 characters per value. An admin's object is validated strictly
 * (any problem: 400, nothing changed); what a source (LDAP, a JWT issuer) supplies is read
 * leniently (what does not fit is dropped, never a failed login). Source keys and admin keys
 * combine as mapped roles do: a source replaces the keys it set last time, the rest are kept.
 */
import { ATTRIBUTE_KEY } from '../config/schema.js';
import { describeValue } from './validation.js';

export type Attributes = Record<string, string[]>;

export const MAX_ATTRIBUTE_KEYS = 32;
export const MAX_ATTRIBUTE_VALUES = 64;
export const MAX_ATTRIBUTE_VALUE_LENGTH = 256;

/** A C0 control character or DEL: never part of a value (PostgreSQL cannot store NUL; headers cannot carry them). */
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * The problems of an admin-supplied attributes object, keyed `attributes.KEY`, or `attributes`
 * for the type and the number of keys; undefined when it is valid.
 */
export function attributesProblems(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { attributes: 'must be an object of attribute lists' };
  const entries = Object.entries(value);
  if (entries.length > MAX_ATTRIBUTE_KEYS) return { attributes: `at most ${MAX_ATTRIBUTE_KEYS} keys` };
  const fields: Record<string, string> = {};
  for (const [key, values] of entries) {
    const field = `attributes.${key.slice(0, 64)}`;
    if (!ATTRIBUTE_KEY.test(key)) fields[field] = 'keys match ^[a-z][a-z0-9_]{0,63}$';
    else {
      const problem = valuesProblem(values);
      if (problem) fields[field] = problem;
    }
  }
  return Object.keys(fields).length > 0 ? fields : undefined;
}

function valuesProblem(values: unknown): string | undefined {
  if (!Array.isArray(values)) return 'must be a list of strings';
  if (values.length === 0) return 'must hold at least one value (leave the key out instead)';
  if (values.length > MAX_ATTRIBUTE_VALUES) return `at most ${MAX_ATTRIBUTE_VALUES} values`;
  for (const item of values) {
    if (typeof item !== 'string' || item === '') return `values must be non-empty strings: ${describeValue(item)}`;
    if (item.length > MAX_ATTRIBUTE_VALUE_LENGTH) return `values have at most ${MAX_ATTRIBUTE_VALUE_LENGTH} characters`;
    if (CONTROL.test(item)) return 'values must not contain control characters';
  }
  return undefined;
}

/** A valid admin object in its stored form: keys sorted, each key's values once, in their order. */
export function normaliseAttributes(value: Attributes): Attributes {
  const out: Attributes = {};
  for (const key of Object.keys(value).sort()) out[key] = [...new Set(value[key])];
  return out;
}

/**
 * What a source supplied, per configured key: a string is a one-element list, a list keeps its
 * strings; anything else, empty strings, values with control characters or over 256 characters
 * are dropped, and so are values past the 64th; a key left with no value is absent.
 */
export function sourceAttributes(raw: Readonly<Record<string, unknown>>): Attributes {
  const out: Attributes = {};
  let keys = 0;
  for (const key of Object.keys(raw).sort()) {
    if (keys >= MAX_ATTRIBUTE_KEYS || !ATTRIBUTE_KEY.test(key)) continue;
    const value = raw[key];
    const list = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
    const kept = new Set<string>();
    for (const item of list) {
      if (kept.size >= MAX_ATTRIBUTE_VALUES) break;
      if (typeof item === 'string' && item !== '' && item.length <= MAX_ATTRIBUTE_VALUE_LENGTH && !CONTROL.test(item)) kept.add(item);
    }
    if (kept.size > 0) {
      out[key] = [...kept];
      keys++;
    }
  }
  return out;
}

/**
 * A record's attributes after a source's login: the keys the source set last time
 * (`mapped_attributes`) are replaced by what it sets now; admin-set keys are kept, unless the
 * source sets the same key now (a source replaces the keys it maps). At most 32 keys: the
 * source's first, then the admin's in key order.
 */
export function mergeSourceAttributes(
  existing: { attributes: Attributes; mapped_attributes: readonly string[] } | undefined,
  fromSource: Attributes,
): { attributes: Attributes; mapped_attributes: string[] } {
  const merged: Attributes = { ...fromSource };
  let count = Object.keys(merged).length;
  if (existing) {
    for (const key of Object.keys(existing.attributes).sort()) {
      if (count >= MAX_ATTRIBUTE_KEYS) break;
      if (existing.mapped_attributes.includes(key) || Object.hasOwn(merged, key)) continue;
      merged[key] = existing.attributes[key] as string[];
      count++;
    }
  }
  return { attributes: normaliseAttributes(merged), mapped_attributes: Object.keys(fromSource).sort() };
}

/** Whether two attribute objects hold the same keys with the same values in the same order. */
export function sameAttributes(a: Readonly<Attributes>, b: Readonly<Attributes>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    const x = a[key] as string[];
    const y = b[key];
    if (y === undefined || x.length !== y.length || x.some((v, i) => v !== y[i])) return false;
  }
  return true;
}

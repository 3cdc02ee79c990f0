/** Strict body reading: only listed own keys, nothing from the prototype chain (mass assignment). */
import { PortcullisError } from '../errors/errors.js';

export function readBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body as object).length === 0 && !Array.isArray(body))) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new PortcullisError('bad_request', 'The body must be a JSON object');
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  const unknown: string[] = [];
  for (const key of Object.getOwnPropertyNames(body)) {
    if (allowed.includes(key)) out[key] = (body as Record<string, unknown>)[key];
    else unknown.push(key);
  }
  if (unknown.length > 0) {
    const fields: Record<string, string> = {};
    for (const key of unknown.slice(0, 20)) fields[key.slice(0, 64)] = 'is not a field that can be set';
    throw new PortcullisError('validation_failed', `Unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.slice(0, 20).join(', ').slice(0, 300)}`, { fields });
  }
  return out;
}

export function optionalString(body: Record<string, unknown>, key: string, fields: Record<string, string>): string | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    fields[key] = 'must be a string';
    return undefined;
  }
  return value;
}

export function optionalBoolean(body: Record<string, unknown>, key: string, fields: Record<string, string>): boolean | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') {
    fields[key] = 'must be true or false';
    return undefined;
  }
  return value;
}

export function optionalStringList(body: Record<string, unknown>, key: string, fields: Record<string, string>): string[] | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    fields[key] = 'must be an array of strings';
    return undefined;
  }
  return value as string[];
}

export function failIfFields(fields: Record<string, string>, message = 'Invalid request'): void {
  if (Object.keys(fields).length > 0) throw new PortcullisError('validation_failed', message, { fields });
}

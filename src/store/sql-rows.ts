/**
 * Row → record mapping shared by both dialects: pg returns int8 as strings and booleans as
 * booleans, SQLite returns numbers and 0/1; arrays and objects are stored as JSON text.
 */
import type { Row } from './sql-driver.js';
import type { EventRecord, Grant, SessionRecord, SigningKeyRecord, TokenRecord, UserRecord, UserSource } from './types.js';

export function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function numOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : num(value);
}

export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 1n;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : value === null || value === undefined ? '' : String(value);
}

function json<T>(value: unknown, fallback: T, valid: (v: unknown) => boolean): T {
  if (typeof value !== 'string') return fallback;
  try {
    const parsed: unknown = JSON.parse(value);
    return valid(parsed) ? (parsed as T) : fallback;
  } catch {
    return fallback;
  }
}

const isStringArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isArray = (v: unknown): boolean => Array.isArray(v);
const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
const isAttributes = (v: unknown): boolean => isObject(v) && Object.values(v as object).every(isStringArray);

export function toUser(row: Row): UserRecord {
  return {
    username: str(row.username),
    name: str(row.name),
    email: str(row.email),
    roles: json<string[]>(row.roles, [], isStringArray),
    mapped_roles: json<string[]>(row.mapped_roles, [], isStringArray),
    projects: json<string[]>(row.projects, [], isStringArray),
    mapped_projects: json<string[]>(row.mapped_projects, [], isStringArray),
    source: str(row.source) as UserSource,
    password_hash: typeof row.password_hash === 'string' ? row.password_hash : null,
    disabled: bool(row.disabled),
    must_change_password: bool(row.must_change_password),
    grants: json<Grant[]>(row.grants, [], isArray),
    quotas: json<Record<string, number>>(row.quotas, {}, isObject),
    attributes: json<Record<string, string[]>>(row.attributes, {}, isAttributes),
    mapped_attributes: json<string[]>(row.mapped_attributes, [], isStringArray),
    auth_version: num(row.auth_version),
    created_at: num(row.created_at),
    updated_at: num(row.updated_at),
    last_login_at: numOrNull(row.last_login_at),
    directory_id: typeof row.directory_id === 'string' ? row.directory_id : '',
    directory_checked_at: numOrNull(row.directory_checked_at),
    directory_revocation: typeof row.directory_revocation === 'string' ? row.directory_revocation : '',
  };
}

export function toSession(row: Row): SessionRecord {
  return {
    id_hash: str(row.id_hash),
    username: str(row.username),
    auth_version: num(row.auth_version),
    method: str(row.method),
    created_at: num(row.created_at),
    last_seen_at: num(row.last_seen_at),
    expires_at: num(row.expires_at),
  };
}

export function toToken(row: Row): TokenRecord {
  return {
    id: str(row.id),
    token_hash: str(row.token_hash),
    username: str(row.username),
    name: str(row.name),
    kind: row.kind === 'jwt' ? 'jwt' : 'opaque',
    auth_version: num(row.auth_version),
    created_at: num(row.created_at),
    expires_at: num(row.expires_at),
    last_used_at: numOrNull(row.last_used_at),
    revoked_at: numOrNull(row.revoked_at),
    scope: row.scope === null || row.scope === undefined ? null : json<Grant[] | null>(row.scope, [], isArray),
    read_only: bool(row.read_only),
  };
}

export function toSigningKey(row: Row): SigningKeyRecord {
  return {
    kid: str(row.kid),
    alg: row.alg === 'EdDSA' ? 'EdDSA' : 'ES256',
    private_jwk: str(row.private_jwk),
    public_jwk: str(row.public_jwk),
    created_at: num(row.created_at),
    retired_at: numOrNull(row.retired_at),
    expires_at: numOrNull(row.expires_at),
  };
}

export function toEvent(row: Row): EventRecord {
  return {
    id: num(row.id),
    type: str(row.type),
    time: num(row.occurred_at),
    username: typeof row.username === 'string' ? row.username : null,
    data: json<Record<string, unknown>>(row.data, {}, isObject),
  };
}

/** Escapes LIKE wildcards so user input matches literally (used with ESCAPE '\'). */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** JSON shapes of the API (SPEC 8): never a hash, never internal bookkeeping. */
import type { EventRecord, TokenRecord, UserRecord } from '../store/types.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function userJson(user: UserRecord): Record<string, unknown> {
  return {
    username: user.username,
    name: user.name,
    email: user.email,
    roles: user.roles,
    projects: user.projects,
    source: user.source,
    disabled: user.disabled,
    must_change_password: user.must_change_password,
    grants: user.grants,
    quotas: user.quotas,
    attributes: user.attributes,
    created_at: iso(user.created_at),
    updated_at: iso(user.updated_at),
    last_login_at: iso(user.last_login_at),
    ...(user.source === 'ldap' ? { directory_id: user.directory_id } : {}),
  };
}

export function tokenJson(token: TokenRecord): Record<string, unknown> {
  return {
    id: token.id,
    name: token.name,
    kind: token.kind,
    username: token.username,
    created_at: iso(token.created_at),
    expires_at: iso(token.expires_at),
    last_used_at: iso(token.last_used_at),
    revoked_at: iso(token.revoked_at),
    // null: unscoped; else every grant of the list must allow (SPEC 8).
    scope: token.scope,
    read_only: token.read_only,
  };
}

export function eventJson(event: EventRecord): Record<string, unknown> {
  return { ...event.data, event: event.type, time: new Date(event.time).toISOString(), username: event.username ?? '', id: event.id };
}

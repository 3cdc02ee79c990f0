/**
 * External JWT identities (SPEC 3): turns a verified token of a configured issuer into a user
 * record of source `jwt:<issuer>` (provision) or finds the existing one (existing). A token
 * never logs in a user of another source, and never yields a privileged role.
 */
import { DEFAULT_PRIVILEGED_ROLES, type JwtIssuerConfig } from '../config/schema.js';
import { mergeSourceAttributes, normaliseAttributes, sameAttributes, type Attributes } from '../users/attributes.js';
import type { NewUser, Store, UserRecord, UserSource } from '../store/types.js';
import type { LoginFailureReason } from './identity.js';

export interface ExternalClaims {
  username: string;
  name: string;
  email: string;
  roles: string[];
  projects: string[];
  /** SPEC 16: what the issuer's attributes_claims gave (already read leniently). */
  attributes?: Attributes;
  jti?: string;
  exp: number;
}

/** `attributes`: the identity's (provision: the record's after this token; existing: the record's). */
export type FederationResult = { ok: true; user: UserRecord; roles: string[]; projects: string[]; attributes: Attributes } | { ok: false; reason: LoginFailureReason };

/** A password-less user record whose roles and projects all come from an external source. */
export function externalUser(entry: { username: string; name: string; email: string; roles: string[]; projects: string[]; attributes?: Attributes }, source: UserSource, now: number): NewUser {
  const attributes = normaliseAttributes(entry.attributes ?? {});
  return {
    username: entry.username,
    name: entry.name,
    email: entry.email,
    roles: entry.roles,
    mapped_roles: entry.roles,
    projects: entry.projects,
    mapped_projects: entry.projects,
    source,
    password_hash: null,
    disabled: false,
    must_change_password: false,
    grants: [],
    quotas: {},
    attributes,
    mapped_attributes: Object.keys(attributes),
    now,
  };
}

const DEFAULT_PRIVILEGED: ReadonlySet<string> = new Set(DEFAULT_PRIVILEGED_ROLES);

export function withoutPrivileged(roles: readonly string[], privileged: ReadonlySet<string> = DEFAULT_PRIVILEGED): string[] {
  return roles.filter((role) => !privileged.has(role));
}

/** What federation needs besides the store: the privileged roles, and the directory to keep its names. */
export interface FederationContext {
  privileged?: ReadonlySet<string>;
  /**
   * With `ldap` configured: whether the directory holds the name (throws when it cannot say).
   * A provisioning issuer never creates a record under a directory person's name (SPEC 3).
   */
  directoryHasUser?: ((username: string) => Promise<boolean>) | undefined;
}

export async function federateUser(store: Store, issuer: JwtIssuerConfig, claims: ExternalClaims, now: number, context: FederationContext = {}): Promise<FederationResult> {
  const source: UserSource = `jwt:${issuer.name}`;
  const privileged = context.privileged ?? DEFAULT_PRIVILEGED;
  const roles = [...new Set(withoutPrivileged(claims.roles, privileged))].sort();
  const projects = [...new Set(claims.projects)].sort();
  let user = await store.getUser(claims.username);
  if (user && user.source !== source) return { ok: false, reason: 'invalid_token' };
  if (issuer.users === 'existing') {
    if (!user) return { ok: false, reason: 'unknown_user' };
    if (user.disabled) return { ok: false, reason: 'account_disabled' };
    return { ok: true, user, roles: withoutPrivileged(user.roles, privileged), projects: user.projects, attributes: user.attributes };
  }
  if (!user && context.directoryHasUser) {
    // Fails closed: a directory that cannot say whether the name is a person's provisions nothing.
    let taken: boolean;
    try {
      taken = await context.directoryHasUser(claims.username);
    } catch {
      return { ok: false, reason: 'directory_unavailable' };
    }
    if (taken) return { ok: false, reason: 'name_taken' };
  }
  if (!user) {
    await store.createUserIfAbsent(externalUser({ username: claims.username, name: claims.name, email: claims.email, roles, projects, attributes: claims.attributes ?? {} }, source, now));
    user = await store.getUser(claims.username);
    if (!user || user.source !== source) return { ok: false, reason: 'invalid_token' };
  } else {
    // Attributes combine like roles (SPEC 16): the issuer replaces the keys it set, admin keys stay.
    const { attributes, mapped_attributes } = mergeSourceAttributes(user, claims.attributes ?? {});
    const attributesChanged = !sameAttributes(attributes, user.attributes) || mapped_attributes.join(',') !== user.mapped_attributes.join(',');
    const changed = attributesChanged || user.roles.join(',') !== roles.join(',') || user.projects.join(',') !== projects.join(',') || user.name !== claims.name || user.email !== claims.email;
    if (changed) {
      const rolesChanged = user.roles.join(',') !== roles.join(',');
      const patch = { name: claims.name, email: claims.email, roles, mapped_roles: roles, projects, mapped_projects: projects, attributes, mapped_attributes, end_sessions: rolesChanged, now };
      user = (await store.updateUser(user.username, patch)) ?? user;
    }
  }
  if (user.disabled) return { ok: false, reason: 'account_disabled' };
  return { ok: true, user, roles: withoutPrivileged(roles, privileged), projects, attributes: user.attributes };
}

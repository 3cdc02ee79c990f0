import { DEFAULT_PRIVILEGED_ROLES } from '../config/schema.js';
import type { Grant } from '../store/types.js';

export const USERNAME_RE = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;
export const BUILTIN_ROLES = ['admin', 'support', 'manager', 'user', 'api', 'readonly', 'writeonly', 'org_admin'] as const;
const ROLE_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const PROJECT_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

export function usernameProblem(username: unknown): string | undefined {
  if (typeof username !== 'string') return 'must be a string';
  if (!USERNAME_RE.test(username)) return 'must start with a letter and contain only letters, digits and _ (at most 64)';
  return undefined;
}

export function rolesProblem(roles: unknown): string | undefined {
  if (!Array.isArray(roles)) return 'must be an array of role names';
  if (roles.length > 64) return 'at most 64 roles';
  for (const role of roles) if (typeof role !== 'string' || !ROLE_RE.test(role)) return `invalid role name: ${describeValue(role)}`;
  return undefined;
}

/**
 * SPEC 3, 4: an identity from an external JWT never holds a privileged role, so a `jwt:` user record
 * must not claim them either: the identity would drop them, while the store would still count
 * the record as an enabled admin (the last-admin guard, the bootstrap).
 */
export function externalRolesProblem(source: string, roles: readonly string[], privilegedRoles: ReadonlySet<string> = new Set(DEFAULT_PRIVILEGED_ROLES)): string | undefined {
  if (!source.startsWith('jwt:')) return undefined;
  const privileged = roles.find((role) => privilegedRoles.has(role));
  return privileged === undefined ? undefined : `a user of an external issuer (${source}) never holds ${privileged}`;
}

export function projectsProblem(projects: unknown): string | undefined {
  if (!Array.isArray(projects)) return 'must be an array of project names';
  if (projects.length > 1024) return 'at most 1024 projects';
  for (const project of projects) if (typeof project !== 'string' || !PROJECT_RE.test(project)) return `invalid project name: ${describeValue(project)}`;
  return undefined;
}

/** A value for an error message: a string quoted and cut short, anything else by its kind (never serialised: it may nest 20,000 deep). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.slice(0, 64));
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function uniqueSorted(values: readonly string[]): string[] {
  return [...new Set(values)].sort();
}

export function isApiOnly(roles: readonly string[]): boolean {
  return roles.length === 1 && roles[0] === 'api';
}

export type { Grant };

/**
 * How a directory's mapping of a user is written (SPEC 9, 16): the roles and projects it maps
 * replace the ones it mapped last time, what an admin added in the store stays, and the last
 * enabled admin keeps admin, decided with the write.
 */
import { isPortcullisError } from '../errors/errors.js';
import type { Store, UserPatch, UserRecord } from '../store/types.js';

export interface MappedGrants {
  roles: string[];
  mapped_roles: string[];
  projects: string[];
  mapped_projects: string[];
}

/** The user's roles and projects once the directory's replace what it mapped last time. */
export function mergeMapped(existing: UserRecord, roles: readonly string[], projects: readonly string[]): MappedGrants {
  const adminRoles = existing.roles.filter((r) => !existing.mapped_roles.includes(r));
  const adminProjects = existing.projects.filter((p) => !existing.mapped_projects.includes(p));
  return {
    roles: [...new Set([...adminRoles, ...roles])].sort(),
    mapped_roles: [...new Set(roles)].sort(),
    projects: [...new Set([...adminProjects, ...projects])].sort(),
    mapped_projects: [...new Set(projects)].sort(),
  };
}

/**
 * Writes a mapping. A mapping that would remove the last enabled admin keeps admin, with a
 * warning. Sessions end on `always`, else when the roles written differ from the user's.
 */
export async function writeMapping(
  store: Store,
  existing: UserRecord,
  patch: Omit<UserPatch, 'roles' | 'end_sessions' | 'guard_last_admin'> & { roles: string[] },
  endSessions: 'always' | 'roles_changed',
  warn: (msg: string, fields: Record<string, unknown>) => void,
): Promise<UserRecord | undefined> {
  const ends = (roles: readonly string[]) => endSessions === 'always' || roles.join(',') !== existing.roles.join(',');
  const demoted = existing.roles.includes('admin') && !patch.roles.includes('admin');
  try {
    return await store.updateUser(existing.username, { ...patch, end_sessions: ends(patch.roles), guard_last_admin: demoted });
  } catch (err) {
    if (!demoted || !isPortcullisError(err) || err.code !== 'last_admin') throw err;
    warn('directory mapping would remove the last enabled admin: admin role kept', { username: existing.username });
    const kept = [...patch.roles, 'admin'].sort();
    return await store.updateUser(existing.username, { ...patch, roles: kept, end_sessions: ends(kept) });
  }
}

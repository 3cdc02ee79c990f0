/**
 * First start (SPEC 9): with no enabled admin, create `users.admin_username` with role admin.
 * The password comes from PORTCULLIS_ADMIN_PASSWORD (or _FILE), else a random one that is
 * logged once and flagged must_change_password. Never a fixed default.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import type { PasswordHasher } from './password-hash.js';
import { generatePassword, passwordProblem } from './password-policy.js';
import type { PasswordPolicy } from '../config/schema.js';

export interface BootstrapOptions {
  store: Store;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  adminUsername: string;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Where the one-time generated password is printed (stderr-free: a plain line on stdout). */
  announce?: (line: string) => void;
  now?: () => number;
}

/**
 * The admin password the environment supplies, and the variable that supplied it:
 * PORTCULLIS_ADMIN_PASSWORD when non-empty, else the file PORTCULLIS_ADMIN_PASSWORD_FILE names
 * (one trailing newline dropped); no password means a generated one. Throws when the file
 * cannot be read.
 */
function suppliedAdminPassword(env: NodeJS.ProcessEnv): { variable: string; password: string | undefined } {
  const password = env.PORTCULLIS_ADMIN_PASSWORD;
  const passwordFile = env.PORTCULLIS_ADMIN_PASSWORD_FILE;
  if ((password === undefined || password === '') && passwordFile) {
    return { variable: 'PORTCULLIS_ADMIN_PASSWORD_FILE', password: readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '') || undefined };
  }
  return { variable: 'PORTCULLIS_ADMIN_PASSWORD', password: password || undefined };
}

/**
 * What is wrong with the admin password the environment supplies, checked before the store is
 * touched (`config check` and `serve` alike): the variable that supplied it (never its value)
 * and the problem.
 */
export function adminPasswordProblem(env: NodeJS.ProcessEnv, policy: PasswordPolicy): { variable: string; message: string } | undefined {
  let supplied: ReturnType<typeof suppliedAdminPassword>;
  try {
    supplied = suppliedAdminPassword(env);
  } catch (err) {
    return { variable: 'PORTCULLIS_ADMIN_PASSWORD_FILE', message: `cannot read ${env.PORTCULLIS_ADMIN_PASSWORD_FILE}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` };
  }
  if (supplied.password === undefined) return undefined;
  const problem = passwordProblem(supplied.password, policy);
  return problem ? { variable: supplied.variable, message: `the admin password ${problem} (users.password_policy)` } : undefined;
}

export type BootstrapOutcome = 'exists' | 'created_from_env' | 'created_generated';

export async function bootstrapAdmin(options: BootstrapOptions): Promise<BootstrapOutcome> {
  const { store, hasher, logger } = options;
  if ((await store.countEnabledAdmins()) > 0) return 'exists';
  const { password } = suppliedAdminPassword(options.env);
  const generated = password === undefined;
  if (!generated) {
    const problem = passwordProblem(password, options.policy);
    if (problem) throw new Error(`PORTCULLIS_ADMIN_PASSWORD ${problem} (users.password_policy)`);
  }
  const finalPassword = generated ? generatePassword() : (password as string);
  const now = (options.now ?? Date.now)();
  const existing = await store.getUser(options.adminUsername);
  // Only a local account is ever the bootstrap admin (SPEC 9): a directory person's or an
  // external issuer's record of that name is never promoted (its password is not ours to set,
  // and the directory's password would then sign in as admin).
  if (existing && existing.source !== 'local') {
    throw new Error(
      `users.admin_username "${existing.username}" names a user of source ${existing.source} and no enabled admin exists: only a local account can be the bootstrap admin; set users.admin_username to another name (or delete that record)`,
    );
  }
  // Another replica created (or restored) it since the count above.
  if (existing && !existing.disabled && existing.roles.includes('admin')) return 'exists';
  const hash = await hasher.hash(finalPassword);
  if (existing) {
    // The named admin exists but is disabled or lost its role: restore it rather than fail to start.
    await store.updateUser(existing.username, {
      roles: [...new Set([...existing.roles, 'admin'])].sort(),
      disabled: false,
      password_hash: hash,
      must_change_password: generated,
      end_sessions: true,
      now,
    });
    // Two replicas restoring at once: the one whose hash is stored announces, the other stays quiet.
    const restored = await store.getUser(existing.username);
    if (restored?.password_hash !== hash) return 'exists';
    logger.warn('no enabled admin: restored the bootstrap admin', { username: existing.username });
  } else {
    // Replicas starting together on a fresh store all get here: one creates the admin, the
    // others find it created and start as if it had been there (before, they failed to start).
    const created = await store.createUserIfAbsent({
      username: options.adminUsername,
      name: 'Administrator',
      email: '',
      roles: ['admin'],
      mapped_roles: [],
      projects: [],
      mapped_projects: [],
      source: 'local',
      password_hash: hash,
      disabled: false,
      must_change_password: generated,
      grants: [],
      quotas: {},
      attributes: {},
      mapped_attributes: [],
      now,
    });
    if (!created) return 'exists';
  }
  if (generated) {
    const line = `Created admin user "${options.adminUsername}" with generated password ${finalPassword}`;
    (options.announce ?? ((l: string) => process.stdout.write(l + '\n')))(line);
    return 'created_generated';
  }
  logger.info('created admin user from PORTCULLIS_ADMIN_PASSWORD', { username: options.adminUsername });
  return 'created_from_env';
}

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

export type BootstrapOutcome = 'exists' | 'created_from_env' | 'created_generated';

export async function bootstrapAdmin(options: BootstrapOptions): Promise<BootstrapOutcome> {
  const { store, hasher, logger } = options;
  if ((await store.countEnabledAdmins()) > 0) return 'exists';
  let password = options.env.PORTCULLIS_ADMIN_PASSWORD;
  const passwordFile = options.env.PORTCULLIS_ADMIN_PASSWORD_FILE;
  if ((password === undefined || password === '') && passwordFile) password = readFileSync(passwordFile, 'utf8').replace(/\r?\n$/, '');
  const generated = password === undefined || password === '';
  if (!generated) {
    const problem = passwordProblem(password, options.policy);
    if (problem) throw new Error(`PORTCULLIS_ADMIN_PASSWORD ${problem} (users.password_policy)`);
  }
  const finalPassword = generated ? generatePassword() : (password as string);
  const now = (options.now ?? Date.now)();
  const existing = await store.getUser(options.adminUsername);
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

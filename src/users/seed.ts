/**
 * Seed file (SPEC 9): lines `username[:role]=password`, `#` comments and blank lines.
 * Each user is created once; an existing user is skipped, never overwritten. The store
 * records every entry it applied, so a seeded user an admin deleted later stays deleted
 * across restarts. A malformed line is an error naming its line number, never its password.
 * A missing file seeds nothing and lets nobody in.
 */
import { readFileSync } from 'node:fs';
import type { EventBus } from '../events/bus.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import { userKey } from '../store/types.js';
import type { PasswordHasher } from './password-hash.js';
import { USERNAME_RE } from './validation.js';

const ROLE_ALIASES: Record<string, string> = {
  admin: 'admin',
  support: 'support',
  manager: 'manager',
  user: 'user',
  api: 'api',
  ro: 'readonly',
  readonly: 'readonly',
  wo: 'writeonly',
  writeonly: 'writeonly',
  rw: 'user',
  readwrite: 'user',
};

export interface SeedEntry {
  line: number;
  username: string;
  role: string;
  password: string;
}

export class SeedFileError extends Error {
  readonly line: number;
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'SeedFileError';
    this.line = line;
  }
}

export function parseSeedFile(text: string, file = 'seed file'): SeedEntry[] {
  const entries: SeedEntry[] = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new SeedFileError(file, lineNo, 'expected username[:role]=password');
    const left = line.slice(0, eq).trim();
    const password = line.slice(eq + 1);
    const colon = left.indexOf(':');
    const username = (colon === -1 ? left : left.slice(0, colon)).trim();
    const roleText =
      colon === -1
        ? ''
        : left
            .slice(colon + 1)
            .trim()
            .toLowerCase();
    if (!USERNAME_RE.test(username)) throw new SeedFileError(file, lineNo, 'invalid username (letters, digits and _, starting with a letter)');
    const role = roleText === '' ? 'user' : ROLE_ALIASES[roleText];
    // Not echoed: in a user:password line (an htpasswd habit) whose password ends in "=" the
    // password stands where the role would.
    if (!role) throw new SeedFileError(file, lineNo, `unknown role after ":" (known: ${Object.keys(ROLE_ALIASES).join(', ')})`);
    if (password === '') throw new SeedFileError(file, lineNo, 'empty password');
    if (seen.has(username.toLowerCase())) throw new SeedFileError(file, lineNo, `user ${username} is listed twice`);
    seen.add(username.toLowerCase());
    entries.push({ line: lineNo, username, role, password });
  });
  return entries;
}

/** The seed file's text, or undefined when it does not exist (other read errors are thrown). */
export function readSeedFile(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export interface SeedOptions {
  file: string;
  store: Store;
  hasher: PasswordHasher;
  logger: Logger;
  /** When given, each created user emits UserCreated with actor `seed`. */
  events?: EventBus | undefined;
  now?: () => number;
}

export async function seedUsers(options: SeedOptions): Promise<{ created: string[]; skipped: string[] }> {
  const { file, store, hasher, logger } = options;
  const text = readSeedFile(file);
  if (text === undefined) {
    logger.warn('seed file not found; nothing seeded', { file });
    return { created: [], skipped: [] };
  }
  const entries = parseSeedFile(text, file);
  const created: string[] = [];
  const skipped: string[] = [];
  const applied = new Set(await store.seededUsers());
  for (const entry of entries) {
    if (applied.has(userKey(entry.username))) {
      skipped.push(entry.username);
      continue;
    }
    // Not applied yet: record it and create the user unless the name exists (one transaction).
    const outcome = await store.seedUser({
      username: entry.username,
      name: '',
      email: '',
      roles: [entry.role],
      mapped_roles: [],
      projects: [],
      mapped_projects: [],
      source: 'local',
      password_hash: await hasher.hash(entry.password),
      disabled: false,
      must_change_password: false,
      grants: [],
      quotas: {},
      attributes: {},
      mapped_attributes: [],
      now: (options.now ?? Date.now)(),
    });
    if (outcome !== 'created') {
      skipped.push(entry.username);
      continue;
    }
    created.push(entry.username);
    options.events?.emit('UserCreated', entry.username, { actor: 'seed', roles: [entry.role], source: 'local' });
  }
  if (created.length > 0 || skipped.length > 0) logger.info('seed file applied', { file, created: created.length, skipped: skipped.length });
  return { created, skipped };
}

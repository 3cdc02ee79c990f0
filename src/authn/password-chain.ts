/**
 * The password chain (SPEC 3): local users first, then the directory for names it does not
 * know. Used by the login form, Basic auth and POST /.auth/token. Every failure looks the
 * same to the caller (one message, one status, the same work), lockout counts failures per
 * name in the store, and successful verifications are cached by a keyed hash of the
 * credentials so API clients using Basic do not pay the KDF or an LDAP bind every time.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Config } from '../config/schema.js';
import { isPortcullisError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type { RequestContext } from '../events/types.js';
import type { Logger } from '../observability/logger.js';
import type { Store, UserRecord } from '../store/types.js';
import type { PasswordHasher } from '../users/password-hash.js';
import { externalUser } from './federation.js';
import type { AuthMethod, LoginFailureReason, UserType } from './identity.js';
import { MISS, sha256, type Miss } from './hot-path.js';
import type { UserCache } from './user-cache.js';

/** Structural view of the directory (src/directory/ldap-directory.ts). */
export interface PasswordDirectory {
  authenticate(username: string, password: string): Promise<{ kind: 'ok'; user: DirectoryUserView } | { kind: 'invalid' }>;
}
export interface DirectoryUserView {
  username: string;
  name: string;
  email: string;
  roles: string[];
  projects: string[];
}

export type PasswordResult =
  | { ok: true; user: UserRecord; userType: UserType; cached: boolean }
  | { ok: false; reason: LoginFailureReason; userType: UserType; status: 401 | 503 };

/** Names the chain will look at at all: no whitespace, no filter or DN metacharacters. */
const LOOKUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface LoginRecorder {
  (result: 'success' | 'failure', userType: UserType, reason: string): void;
}

export interface PasswordChainOptions {
  config: Config;
  store: Store;
  users: UserCache;
  hasher: PasswordHasher;
  events: EventBus;
  logger: Logger;
  directory?: PasswordDirectory | undefined;
  recordLogin?: LoginRecorder;
  now?: () => number;
  /** TTL of cached successful local verifications (Basic); LDAP uses ldap.cache_ttl. */
  localCacheTtlMs?: number;
}

interface CachedVerification {
  username: string;
  authVersion: number;
  userType: UserType;
}

/** A cached verification stands only for the same user, still enabled, at the same auth version. */
function stillValid(hit: CachedVerification, user: UserRecord | null | undefined): user is UserRecord {
  return user !== null && user !== undefined && !user.disabled && user.auth_version === hit.authVersion;
}

export class PasswordChain {
  private readonly options: PasswordChainOptions;
  private readonly now: () => number;
  /** Per-process secret mixed into cache keys: a key reveals nothing about a password without it. */
  private readonly cacheKey = randomBytes(32).toString('base64');
  private readonly verified: LRUCache<string, CachedVerification>;
  private readonly pending = new Map<string, Promise<PasswordResult>>();

  constructor(options: PasswordChainOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.verified = new LRUCache<string, CachedVerification>({ max: options.config.ldap?.cache_max ?? 10_000, ttl: options.localCacheTtlMs ?? 5 * 60_000, ttlAutopurge: false });
  }

  /**
   * A Basic credential verified before, answered from the caches alone: the result, or MISS
   * when it must be verified (or its user loaded) — then call verify.
   */
  verifyCached(name: string, secret: string): PasswordResult | Miss {
    if (name === '' || secret === '') return MISS;
    const key = this.keyOf(name, secret);
    const hit = this.verified.get(key);
    if (!hit) return MISS;
    const user = this.options.users.peek(hit.username);
    if (user === undefined) return MISS;
    if (stillValid(hit, user)) return { ok: true, user, userType: hit.userType, cached: true };
    this.verified.delete(key);
    return MISS;
  }

  /**
   * Verifies a username and password. `allowCache` is true for Basic on ordinary requests;
   * interactive logins (form, token) always verify against the source.
   */
  async verify(username: unknown, password: unknown, method: AuthMethod, context: RequestContext, allowCache: boolean): Promise<PasswordResult> {
    const name = typeof username === 'string' ? username : '';
    const secret = typeof password === 'string' ? password : '';
    const key = allowCache && name !== '' && secret !== '' ? this.keyOf(name, secret) : undefined;
    if (key) {
      const hit = this.verified.get(key);
      if (hit) {
        const user = await this.options.users.get(hit.username);
        if (stillValid(hit, user)) return { ok: true, user, userType: hit.userType, cached: true };
        this.verified.delete(key);
      }
    }
    if (key) {
      // Concurrent requests with the same credentials share one verification (one KDF or bind).
      const pending = this.pending.get(key);
      if (pending) {
        const shared = await pending;
        return shared.ok ? { ...shared, cached: true } : shared;
      }
      const promise = this.verifyAndRecord(name, secret, method, context, key);
      this.pending.set(key, promise);
      try {
        return await promise;
      } finally {
        this.pending.delete(key);
      }
    }
    return this.verifyAndRecord(name, secret, method, context, undefined);
  }

  private async verifyAndRecord(name: string, secret: string, method: AuthMethod, context: RequestContext, key: string | undefined): Promise<PasswordResult> {
    const result = await this.verifyAtSource(name, secret);
    if (result.ok) {
      if (key) {
        const ttl = result.userType === 'ldap' ? (this.options.config.ldap?.cache_ttl ?? 0) : undefined;
        if (ttl !== 0) this.verified.set(key, { username: result.user.username, authVersion: result.user.auth_version, userType: result.userType }, ttl === undefined ? {} : { ttl });
      }
      this.options.recordLogin?.('success', result.userType, '');
      await this.options.store.updateUser(result.user.username, { last_login_at: this.now(), now: this.now() }).catch(() => undefined);
      this.options.events.emit('UserLoggedIn', result.user.username, { user_type: result.userType, roles: result.user.roles, method }, context);
      return { ...result, cached: false };
    }
    this.options.recordLogin?.('failure', result.userType, result.reason);
    this.options.events.emit('UserLoginFailed', name, { user_type: result.userType, reason: result.reason, method }, context);
    return result;
  }

  /** Forgets every cached verification (missed notifications). One user's entries need no
   * scan: a changed auth_version, disable or delete already invalidates them on use. */
  forgetAll(): void {
    this.verified.clear();
  }

  private keyOf(username: string, password: string): string {
    // A keyed SHA-256 rather than an HMAC: the key is only ever compared for equality inside
    // this process, and the one-shot hash costs a quarter of an HMAC object per Basic request.
    // The name's length keeps name and password apart whatever characters they contain.
    const name = username.toLowerCase();
    return sha256(`${this.cacheKey}${name.length}:${name}\0${password}`);
  }

  private async verifyAtSource(name: string, password: string): Promise<Omit<Extract<PasswordResult, { ok: true }>, 'cached'> | Extract<PasswordResult, { ok: false }>> {
    const { store, hasher, config } = this.options;
    if (!LOOKUP_NAME.test(name)) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'unknown_user', userType: 'local', status: 401 };
    }
    const lockName = name.toLowerCase();
    const lockedUntil = await store.getLockout(lockName);
    const now = this.now();
    if (lockedUntil !== undefined && lockedUntil > now) {
      await hasher.verifyDummy(password);
      const user = await store.getUser(name);
      return { ok: false, reason: 'locked_out', userType: user?.source === 'ldap' ? 'ldap' : 'local', status: 401 };
    }
    const user = await store.getUser(name);
    let outcome: Omit<Extract<PasswordResult, { ok: true }>, 'cached'> | Extract<PasswordResult, { ok: false }>;
    if (user && user.source === 'local') {
      const good = password !== '' && user.password_hash !== null && (await hasher.verify(password, user.password_hash));
      if (!good) {
        if (user.password_hash === null) await hasher.verifyDummy(password);
        outcome = { ok: false, reason: 'bad_password', userType: 'local', status: 401 };
      } else if (user.disabled) outcome = { ok: false, reason: 'account_disabled', userType: 'local', status: 401 };
      else {
        if (hasher.needsRehash(user.password_hash as string)) {
          const rehashed = await hasher.hash(password);
          await store.updateUser(user.username, { password_hash: rehashed, now }).catch(() => undefined);
        }
        outcome = { ok: true, user, userType: 'local' };
      }
    } else if (user && user.source !== 'ldap') {
      // jwt:<issuer> users never log in with a password.
      await hasher.verifyDummy(password);
      outcome = { ok: false, reason: 'bad_password', userType: 'jwt', status: 401 };
    } else if (this.options.directory && config.ldap) {
      outcome = await this.verifyWithDirectory(name, password, user);
    } else {
      await hasher.verifyDummy(password);
      outcome = { ok: false, reason: user ? 'bad_password' : 'unknown_user', userType: user ? 'ldap' : 'local', status: 401 };
    }
    if (!outcome.ok && outcome.reason !== 'directory_unavailable') await this.countFailure(lockName, now);
    else if (outcome.ok) await store.clearLoginFailures(lockName).catch(() => undefined);
    return outcome;
  }

  private async verifyWithDirectory(name: string, password: string, existing: UserRecord | undefined): Promise<Omit<Extract<PasswordResult, { ok: true }>, 'cached'> | Extract<PasswordResult, { ok: false }>> {
    if (password === '') return { ok: false, reason: existing ? 'bad_password' : 'unknown_user', userType: 'ldap', status: 401 };
    let result;
    try {
      result = await (this.options.directory as PasswordDirectory).authenticate(name, password);
    } catch (err) {
      this.options.logger.warn('directory unavailable during login', { err: isPortcullisError(err) ? err : new Error('directory error') });
      return { ok: false, reason: 'directory_unavailable', userType: 'ldap', status: 503 };
    }
    if (result.kind !== 'ok') return { ok: false, reason: existing ? 'bad_password' : 'unknown_user', userType: 'ldap', status: 401 };
    const user = await this.upsertDirectoryUser(result.user, existing);
    if (user.disabled) return { ok: false, reason: 'account_disabled', userType: 'ldap', status: 401 };
    return { ok: true, user, userType: 'ldap' };
  }

  /**
   * Creates or refreshes the record of an LDAP user after a successful bind. Roles and projects
   * from the directory mapping replace the previously mapped ones; what an admin added in the
   * store is kept.
   */
  private async upsertDirectoryUser(entry: DirectoryUserView, existing: UserRecord | undefined): Promise<UserRecord> {
    const { store } = this.options;
    const now = this.now();
    const mappedRoles = [...new Set(entry.roles)].sort();
    const mappedProjects = [...new Set(entry.projects)].sort();
    if (!existing) {
      const created = await store.createUserIfAbsent(externalUser({ ...entry, roles: mappedRoles, projects: mappedProjects }, 'ldap', now));
      const user = await store.getUser(entry.username);
      if (!user || (!created && user.source !== 'ldap')) throw new Error('directory user could not be recorded');
      if (created) this.options.events.emit('UserCreated', user.username, { actor: 'ldap', roles: user.roles, source: 'ldap' });
      return user;
    }
    const adminRoles = existing.roles.filter((r) => !existing.mapped_roles.includes(r));
    const adminProjects = existing.projects.filter((p) => !existing.mapped_projects.includes(p));
    const roles = [...new Set([...adminRoles, ...mappedRoles])].sort();
    const projects = [...new Set([...adminProjects, ...mappedProjects])].sort();
    const rolesChanged = roles.join(',') !== existing.roles.join(',');
    const changed = rolesChanged || projects.join(',') !== existing.projects.join(',') || entry.name !== existing.name || entry.email !== existing.email || mappedRoles.join(',') !== existing.mapped_roles.join(',');
    if (!changed) return existing;
    const updated = await store.updateUser(existing.username, {
      name: entry.name,
      email: entry.email,
      roles,
      mapped_roles: mappedRoles,
      projects,
      mapped_projects: mappedProjects,
      end_sessions: rolesChanged,
      now,
    });
    if (!updated) throw new Error('directory user vanished during login');
    return updated;
  }

  private async countFailure(name: string, now: number): Promise<void> {
    const { store, config } = this.options;
    const lockout = config.users.lockout;
    const failures = await store.recordLoginFailure(name, now, now - lockout.window);
    if (failures >= lockout.max_failures) {
      await store.setLockout(name, now + lockout.duration);
      this.options.logger.warn('username locked out after repeated failures', { username: name.slice(0, 64), failures });
    }
  }
}

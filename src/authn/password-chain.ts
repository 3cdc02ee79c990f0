/**
 * The password chain (SPEC 3): local users first, then the directory for names it does not
 * know. Used by the login form, Basic auth and POST /.auth/token. Every failure looks the
 * same to the caller (one message, one status, the same work), lockout counts failures per
 * name in the store, and successful verifications are cached by a keyed hash of the
 * credentials so API clients using Basic do not pay the KDF or an LDAP bind every time.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Config, LockoutPolicy } from '../config/schema.js';
import { INVALID_LOGIN_MESSAGE, PortcullisError, isPortcullisError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type { RequestContext } from '../events/types.js';
import { clientKey } from '../http/client-ip.js';
import type { Logger } from '../observability/logger.js';
import type { LoginAttemptId, Store, UserRecord } from '../store/types.js';
import type { PasswordHasher } from '../users/password-hash.js';
import { mergeSourceAttributes, sameAttributes, sourceAttributes } from '../users/attributes.js';
import { mergeMapped, writeMapping } from '../users/directory-mapping.js';
import { externalUser } from './federation.js';
import type { AuthMethod, LoginFailureReason, UserType } from './identity.js';
import { MISS, sha256, type Miss } from './hot-path.js';
import type { UserCache } from './user-cache.js';

/** Structural view of the directory (src/directory/ldap-directory.ts). */
export interface PasswordDirectory {
  authenticate(username: string, password: string): Promise<{ kind: 'ok'; user: DirectoryUserView } | { kind: 'invalid'; refusal?: { reason: LoginFailureReason; verified: boolean } }>;
  /** The account a login name stands for (AD's `CORP\\alice`, `alice@corp…`), undefined for another domain. */
  accountName?(login: string): string | undefined;
}
export interface DirectoryUserView {
  username: string;
  name: string;
  email: string;
  roles: string[];
  projects: string[];
  /** The entry's stable id ('' when the directory has none for it). */
  id?: string;
  revocation?: string;
  /** Raw values per attribute key (SPEC 16), read leniently (sourceAttributes). */
  attributes?: Readonly<Record<string, unknown>>;
}

export type PasswordResult =
  | { ok: true; user: UserRecord; userType: UserType; cached: boolean }
  /** `verified`: the password was right, the account is refused (a reason the client may be told). */
  | { ok: false; reason: LoginFailureReason; userType: UserType; status: 401 | 503; verified?: boolean };

/** Names the chain will look at at all: no whitespace, no filter or DN metacharacters. */
const LOOKUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The part of the PasswordHasher the chain uses (a narrower type lets tests count its calls). */
export type ChainHasher = Pick<PasswordHasher, 'verify' | 'verifyDummy' | 'hash' | 'needsRehash'>;

type SourceResult = Omit<Extract<PasswordResult, { ok: true }>, 'cached'> | Extract<PasswordResult, { ok: false }>;

/** How a reserved guess ended: a failure counts towards the lockout, `void` gives the slot back. */
type GuessOutcome = { kind: 'failure'; failures: number } | { kind: 'success' } | { kind: 'void' };

interface FailureHistory {
  /** Failures of the name in the window, as the store last counted them (all replicas). */
  failures: number;
  observedAt: number;
  lockedUntil: number;
}

/**
 * Holders of something counted per key (a name's guesses, a client's logins) while it is in
 * progress. A key is forgotten when its count returns to zero, so the map never holds more
 * entries than there are holders.
 */
class InFlight {
  private readonly counts = new Map<string, number>();

  /** Takes one for the key, or false (taking nothing) when it already holds `limit`. */
  tryTake(key: string, limit: number): boolean {
    const held = this.counts.get(key) ?? 0;
    if (held >= limit) return false;
    this.counts.set(key, held + 1);
    return true;
  }

  /** Gives one back. */
  release(key: string): void {
    const left = (this.counts.get(key) ?? 1) - 1;
    if (left > 0) this.counts.set(key, left);
    else this.counts.delete(key);
  }

  /** Keys holding at least one. */
  get size(): number {
    return this.counts.size;
  }
}

/**
 * Guesses per username in this process, reserved synchronously BEFORE the slow KDF or bind:
 * guesses in flight plus failures already counted never exceed `max_failures`, however many
 * requests arrive at once. The store's reservation (Store.reserveLoginAttempt) is what holds the
 * limit across replicas; this spares it a round trip for every guess one process can refuse alone.
 */
export class GuessBudget {
  private readonly inFlight = new InFlight();
  /** Bounded: an evicted name keeps its store lockout, it only loses the in-process count. */
  private readonly history: LRUCache<string, FailureHistory>;
  private readonly lockout: LockoutPolicy;

  constructor(lockout: LockoutPolicy, max = 100_000) {
    this.lockout = lockout;
    this.history = new LRUCache<string, FailureHistory>({ max });
  }

  /** Takes one guess for the name, or false when its budget is spent (answer as locked out). */
  tryReserve(name: string, now: number): boolean {
    const { max_failures, window } = this.lockout;
    const seen = this.history.get(name);
    let slots = max_failures;
    if (seen) {
      if (seen.lockedUntil > now) return false;
      const recent = seen.observedAt > now - window ? seen.failures : 0;
      // After a lockout ends with failures still in the window, every failure locks again:
      // one guess at a time, as the store alone would allow.
      slots = recent >= max_failures ? 1 : max_failures - recent;
    }
    return this.inFlight.tryTake(name, slots);
  }

  /** Gives the reservation back, converted into what it turned out to be. */
  release(name: string, now: number, outcome: GuessOutcome): void {
    this.inFlight.release(name);
    if (outcome.kind === 'success') this.history.delete(name);
    else if (outcome.kind === 'failure') {
      const previous = this.history.get(name);
      const lockedUntil = outcome.failures >= this.lockout.max_failures ? now + this.lockout.duration : (previous?.lockedUntil ?? 0);
      this.history.set(name, { failures: outcome.failures, observedAt: now, lockedUntil });
    }
  }
}

export type LoginRecorder = (result: 'success' | 'failure', userType: UserType, reason: string) => void;

export interface PasswordChainOptions {
  config: Config;
  store: Store;
  users: UserCache;
  hasher: ChainHasher;
  events: EventBus;
  logger: Logger;
  directory?: PasswordDirectory | undefined;
  recordLogin?: LoginRecorder;
  now?: () => number;
  /** TTL of cached successful local verifications (Basic); LDAP uses ldap.cache_ttl. */
  localCacheTtlMs?: number;
  /** Verifications in progress at once (each spends one KDF); beyond it a login is refused at once. */
  maxConcurrentLogins?: number;
  /** Of those, how many one client address may hold at once; beyond it its login is refused at once. */
  maxConcurrentLoginsPerClient?: number;
}

/**
 * Logins verified at once in one process. Each spends a KDF (≈100 ms, 32 MiB at the default
 * cost) on libuv's threadpool of 4, shared with dns.lookup: without a bound, a flood of logins
 * with made-up names queued there without limit and stalled every other login (and new
 * upstream connections to host names). 32 is ≈3 s of queue at the default cost.
 */
export const MAX_CONCURRENT_LOGINS = 32;

/**
 * The share of those slots one client address may hold at once. Four keeps libuv's four
 * threads busy, so a client gains no speed from more logins in flight, only queue; and it takes
 * eight addresses, not one client, to fill the process bound. Four logins in flight are still
 * ≈40 logins a second from one address (an office behind one NAT address). Behind a reverse
 * proxy, `server.trusted_proxies` must name it, or every client shares the proxy's four.
 */
export const MAX_CONCURRENT_LOGINS_PER_CLIENT = 4;

/**
 * The error for a refused password login (401): always "Invalid username or password", except an
 * expired directory password the directory proved right (`password_expired`, SPEC 18).
 */
export function loginRefusal(result: { reason: LoginFailureReason; verified?: boolean }): PortcullisError {
  if (result.reason === 'password_expired' && result.verified === true) return new PortcullisError('password_expired', 'The directory password has expired: change it to sign in');
  return new PortcullisError('invalid_credentials', INVALID_LOGIN_MESSAGE);
}

/** The error for a login refused with 503: the directory down, or too many logins at once. */
export function loginUnavailable(reason: LoginFailureReason): PortcullisError {
  return reason === 'overloaded'
    ? new PortcullisError('logins_overloaded', 'Too many logins in progress; try again shortly', { headers: { 'retry-after': '1' } })
    : new PortcullisError('directory_unavailable', 'The directory is unavailable');
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
  private loginsInProgress = 0;
  /**
   * Logins in progress per client address (clientKey): never more entries than logins in
   * progress, so at most the process bound.
   */
  private readonly loginsByClient = new InFlight();
  private readonly options: PasswordChainOptions;
  private readonly now: () => number;
  /** Per-process secret mixed into cache keys: a key reveals nothing about a password without it. */
  private readonly cacheKey = randomBytes(32).toString('base64');
  private readonly verified: LRUCache<string, CachedVerification>;
  private readonly pending = new Map<string, Promise<PasswordResult>>();
  private readonly budget: GuessBudget;

  constructor(options: PasswordChainOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.budget = new GuessBudget(options.config.users.lockout);
    this.verified = new LRUCache<string, CachedVerification>({ max: options.config.ldap?.cache_max ?? 10_000, ttl: options.localCacheTtlMs ?? 5 * 60_000, ttlAutopurge: false });
  }

  /** Client addresses holding a login in progress (never more than the logins in progress). */
  get clientsWithLoginsInProgress(): number {
    return this.loginsByClient.size;
  }

  /**
   * A Basic credential verified before, answered from the caches alone by the header's value
   * as sent (`base64(name:password)`, not decoded: a hit was decoded and verified when it was
   * cached): the result, or MISS when it must be verified (or its user loaded) — then call verify.
   */
  verifyCached(basicToken: string): PasswordResult | Miss {
    if (basicToken === '') return MISS;
    const key = this.keyOf(basicToken);
    const hit = this.verified.get(key);
    if (!hit) return MISS;
    const user = this.options.users.peek(hit.username);
    if (user === undefined) return MISS;
    if (stillValid(hit, user)) return { ok: true, user, userType: hit.userType, cached: true };
    this.verified.delete(key);
    return MISS;
  }

  /**
   * Verifies a username and password. `basicToken` is the Basic header's value the two were
   * decoded from, on ordinary requests: the result is cached under it. Interactive logins (form,
   * token) pass none and always verify against the source.
   */
  async verify(username: unknown, password: unknown, method: AuthMethod, context: RequestContext, basicToken?: string): Promise<PasswordResult> {
    const name = typeof username === 'string' ? username : '';
    const secret = typeof password === 'string' ? password : '';
    const key = basicToken !== undefined && basicToken !== '' && name !== '' && secret !== '' ? this.keyOf(basicToken) : undefined;
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
    // Refused before any work and whatever the name: no guess is reserved or counted, no hash
    // is spent, and the answer does not tell names apart. Counted in the metrics only: an event
    // per refusal would turn the flood into store writes. One client address may hold only its
    // share of the slots, so a flood from one client cannot refuse everyone else's logins.
    const client = clientKey(context.ip);
    if (
      this.loginsInProgress >= (this.options.maxConcurrentLogins ?? MAX_CONCURRENT_LOGINS) ||
      !this.loginsByClient.tryTake(client, this.options.maxConcurrentLoginsPerClient ?? MAX_CONCURRENT_LOGINS_PER_CLIENT)
    ) {
      this.options.recordLogin?.('failure', 'local', 'overloaded');
      return { ok: false, reason: 'overloaded', userType: 'local', status: 503 };
    }
    this.loginsInProgress++;
    let result: SourceResult;
    try {
      result = await this.verifyAtSource(name, secret);
    } finally {
      this.loginsInProgress--;
      this.loginsByClient.release(client);
    }
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

  private keyOf(basicToken: string): string {
    // A keyed SHA-256 rather than an HMAC: the key is only ever compared for equality inside
    // this process, and the one-shot hash costs a quarter of an HMAC object per Basic request.
    // Of the header's value as sent, so that a cached request is not decoded: two spellings of
    // one credential (a name's case, base64 padding) are two entries, each verified once.
    return sha256(this.cacheKey + basicToken);
  }

  /**
   * Every path spends exactly one password verification (the real one or the dummy), whatever
   * the name is, so the time does not tell unknown, local, directory, disabled or locked names
   * apart. The guess is reserved before that work, in this process and then in the store for
   * every replica, and counted (or given back) after it.
   */
  private async verifyAtSource(login: string, password: string): Promise<SourceResult> {
    const { store, hasher } = this.options;
    // Every login-name form of a directory account is that account (its lockout, its record).
    const account = this.options.directory?.accountName ? this.options.directory.accountName(login) : login;
    const name = account ?? '';
    if (!LOOKUP_NAME.test(name)) {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'unknown_user', userType: 'local', status: 401 };
    }
    const lockName = name.toLowerCase();
    const now = this.now();
    // Synchronous with the check: no await between reading the budget and taking from it.
    if (!this.budget.tryReserve(lockName, now)) return this.refuseLocked(name, password);
    const { max_failures, window } = this.options.config.users.lockout;
    let outcome: GuessOutcome = { kind: 'void' };
    let reserved: LoginAttemptId | undefined;
    try {
      // The store reserves the guess for every replica before any work on it: a store error
      // here propagates (store_unavailable, 503) and no guess is evaluated.
      const attempt = await store.reserveLoginAttempt(lockName, now, now - window, max_failures);
      if (!attempt.admitted) return await this.refuseLocked(name, password);
      reserved = attempt.id;
      const user = await store.getUser(name);
      // From here on a guess is evaluated: its reserved failure stays counted unless it
      // succeeds (the failures are cleared) or the directory is down (the reservation is given back).
      outcome = { kind: 'failure', failures: attempt.failures };
      // A name qualified with the directory's domain names a directory account, never a local one.
      const result = await this.evaluate(name, password, now, user?.source === 'local' && name !== login ? undefined : user, name !== login);
      if (result.ok) {
        outcome = { kind: 'success' };
        await store.clearLoginFailures(lockName).catch(() => undefined);
      } else if (result.reason === 'directory_unavailable') outcome = { kind: 'void' };
      else if (attempt.failures >= max_failures) await this.lock(lockName, now, attempt.failures);
      return result;
    } finally {
      if (reserved !== undefined && outcome.kind === 'void') await this.giveBack(lockName, reserved);
      this.budget.release(lockName, now, outcome);
    }
  }

  /** Gives a reserved guess back; if the store cannot, it stays counted (failing closed). */
  private async giveBack(lockName: string, id: LoginAttemptId): Promise<void> {
    try {
      await this.options.store.releaseLoginAttempt(lockName, id);
    } catch (err) {
      this.options.logger.warn('could not release a reserved login attempt', { username: lockName.slice(0, 64), err: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /** The answer for a name whose guesses are spent: the same work and message as any failure. */
  private async refuseLocked(name: string, password: string): Promise<SourceResult> {
    await this.options.hasher.verifyDummy(password);
    const user = await this.options.store.getUser(name).catch(() => undefined);
    return { ok: false, reason: 'locked_out', userType: user?.source === 'ldap' ? 'ldap' : 'local', status: 401 };
  }

  private async evaluate(name: string, password: string, now: number, user: UserRecord | undefined, qualified = false): Promise<SourceResult> {
    const { store, hasher, config } = this.options;
    if (qualified && user === undefined && (await store.getUser(name))?.source === 'local') {
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'unknown_user', userType: 'local', status: 401 };
    }
    if (user && user.source === 'local') {
      // The hash is checked even for an empty password: skipping it would time out the name.
      let matches = false;
      if (user.password_hash !== null) matches = await hasher.verify(password, user.password_hash);
      else await hasher.verifyDummy(password);
      if (!matches || password === '') return { ok: false, reason: 'bad_password', userType: 'local', status: 401 };
      if (user.disabled) return { ok: false, reason: 'account_disabled', userType: 'local', status: 401 };
      if (hasher.needsRehash(user.password_hash as string)) {
        const rehashed = await hasher.hash(password);
        await store.updateUser(user.username, { password_hash: rehashed, now }).catch(() => undefined);
      }
      return { ok: true, user, userType: 'local' };
    }
    if (user && user.source !== 'ldap') {
      // jwt:<issuer> users never log in with a password.
      await hasher.verifyDummy(password);
      return { ok: false, reason: 'bad_password', userType: 'jwt', status: 401 };
    }
    if (this.options.directory && config.ldap) return this.verifyWithDirectory(name, password, user);
    await hasher.verifyDummy(password);
    return { ok: false, reason: user ? 'bad_password' : 'unknown_user', userType: user ? 'ldap' : 'local', status: 401 };
  }

  private async verifyWithDirectory(name: string, password: string, existing: UserRecord | undefined): Promise<SourceResult> {
    const { hasher } = this.options;
    const refused: SourceResult = { ok: false, reason: existing ? 'bad_password' : 'unknown_user', userType: 'ldap', status: 401 };
    if (password === '') {
      await hasher.verifyDummy(password);
      return refused;
    }
    // The dummy verification runs alongside the bind: a directory name costs what a local one
    // does (as long as the directory answers faster than the KDF), found in it or not.
    const [bind, spent] = await Promise.allSettled([(this.options.directory as PasswordDirectory).authenticate(name, password), hasher.verifyDummy(password)]);
    if (spent.status === 'rejected') throw spent.reason;
    if (bind.status === 'rejected') {
      const err: unknown = bind.reason;
      this.options.logger.warn('directory unavailable during login', { err: isPortcullisError(err) ? err : new Error('directory error') });
      return { ok: false, reason: 'directory_unavailable', userType: 'ldap', status: 503 };
    }
    if (bind.value.kind !== 'ok') {
      // The directory's reason is told only once it proved the password (AD 533, 701, 773, 532):
      // a wrong password, an unknown name and a locked account all answer alike.
      const refusal = bind.value.refusal;
      if (refusal === undefined) return refused;
      return {
        ok: false,
        reason: refusal.verified || refusal.reason === 'locked_out' ? refusal.reason : refused.reason,
        userType: 'ldap',
        status: 401,
        ...(refusal.verified ? { verified: true } : {}),
      };
    }
    const entry = bind.value.user;
    // A re-created account under a known name is another person (SPEC 18): refused until an
    // admin deletes or re-links the old record; it inherits nothing.
    if (existing !== undefined && existing.directory_id !== '' && entry.id !== undefined && entry.id !== '' && entry.id !== existing.directory_id) {
      return { ok: false, reason: 'directory_identity_changed', userType: 'ldap', status: 401, verified: true };
    }
    const user = await this.upsertDirectoryUser(entry, existing);
    if (user.disabled) return { ok: false, reason: 'account_disabled', userType: 'ldap', status: 401 };
    await this.options.store.setDirectoryState(user.username, { directory_id: entry.id ?? '', revocation: entry.revocation ?? '', checked_at: this.now() });
    return { ok: true, user: { ...user, directory_id: entry.id ?? '', directory_revocation: entry.revocation ?? '', directory_checked_at: this.now() }, userType: 'ldap' };
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
    const fromDirectory = sourceAttributes(entry.attributes ?? {});
    if (!existing) {
      const created = await store.createUserIfAbsent(externalUser({ ...entry, roles: mappedRoles, projects: mappedProjects, attributes: fromDirectory }, 'ldap', now));
      const user = await store.getUser(entry.username);
      if (!user || (!created && user.source !== 'ldap')) throw new Error('directory user could not be recorded');
      if (created) this.options.events.emit('UserCreated', user.username, { actor: 'ldap', roles: user.roles, source: 'ldap' });
      return user;
    }
    const { roles, projects } = mergeMapped(existing, mappedRoles, mappedProjects);
    const rolesChanged = roles.join(',') !== existing.roles.join(',');
    // Attributes combine like roles (SPEC 16): the directory replaces the keys it set, admin keys stay.
    const { attributes, mapped_attributes: mappedAttributes } = mergeSourceAttributes(existing, fromDirectory);
    const attributesChanged = !sameAttributes(attributes, existing.attributes) || mappedAttributes.join(',') !== existing.mapped_attributes.join(',');
    const changed =
      rolesChanged ||
      attributesChanged ||
      projects.join(',') !== existing.projects.join(',') ||
      entry.name !== existing.name ||
      entry.email !== existing.email ||
      mappedRoles.join(',') !== existing.mapped_roles.join(',');
    if (!changed) return existing;
    const patch = { name: entry.name, email: entry.email, roles, mapped_roles: mappedRoles, projects, mapped_projects: mappedProjects, attributes, mapped_attributes: mappedAttributes, now };
    const updated = await writeMapping(store, existing, patch, 'roles_changed', (msg, fields) => this.options.logger.warn(msg, fields));
    if (!updated) throw new Error('directory user vanished during login');
    return updated;
  }

  /** Locks the name in the store for every replica (this process has locked it already). */
  private async lock(name: string, now: number, failures: number): Promise<void> {
    await this.options.store.setLockout(name, now + this.options.config.users.lockout.duration);
    this.options.logger.warn('username locked out after repeated failures', { username: name.slice(0, 64), failures });
  }
}

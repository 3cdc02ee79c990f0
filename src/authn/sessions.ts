/**
 * Server-side sessions (SPEC 7). The cookie carries an opaque random id (256 bits); the store
 * keeps only its SHA-256. Every login gets a new id (no fixation). A session ends on logout,
 * idle or absolute timeout, and whenever the user's auth_version moves (password or role
 * change, disable, revoke) or the user is deleted. Lookups are cached per process and the
 * cache is dropped on change notifications; last-seen is written at most once a minute.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Store, SessionRecord, UserRecord } from '../store/types.js';
import type { CacheStats } from './user-cache.js';
import { noStats, type UserCache } from './user-cache.js';
import { MISS, sha256, type Miss } from './hot-path.js';

export interface SessionOptions {
  idleTimeoutMs: number;
  maxLifetimeMs: number;
  now?: () => number;
  stats?: CacheStats;
  /** How often last_seen_at is written back (bounds the idle-timeout error across replicas); default min(60 s, idle timeout / 4). */
  touchIntervalMs?: number;
  onTouchError?: (err: unknown) => void;
}

export interface ResolvedSession {
  session: SessionRecord;
  user: UserRecord;
}

const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export function hashSessionId(id: string): string {
  return sha256(id);
}

export class SessionManager {
  private readonly store: Store;
  private readonly users: UserCache;
  private readonly options: SessionOptions;
  private readonly now: () => number;
  private readonly cache: LRUCache<string, SessionRecord>;
  private readonly stats: CacheStats;
  private readonly touchIntervalMs: number;
  /** Bumped by every forget: a store read that overlapped one (a logout, a revoke) is not cached. */
  private generation = 0;

  constructor(store: Store, users: UserCache, options: SessionOptions) {
    this.store = store;
    this.users = users;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.stats = options.stats ?? noStats;
    this.cache = new LRUCache<string, SessionRecord>({ max: 100_000, ttl: 60_000 });
    // A session in use must never look idle: with a short idle timeout, write last-seen back more often.
    this.touchIntervalMs = options.touchIntervalMs ?? Math.min(60_000, Math.floor(options.idleTimeoutMs / 4));
  }

  /** Creates a session for the user and returns the cookie value. */
  async create(user: UserRecord, method: string): Promise<{ id: string; expiresAt: number }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.now();
    const record: SessionRecord = {
      id_hash: hashSessionId(id),
      username: user.username,
      auth_version: user.auth_version,
      method,
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.options.maxLifetimeMs,
    };
    await this.store.createSession(record);
    this.cache.set(record.id_hash, record);
    return { id, expiresAt: record.expires_at };
  }

  /**
   * Resolves a cookie value from the caches alone, without waiting: the result (undefined
   * when invalid), or MISS when the store must be asked (then call resolve).
   */
  resolveCached(id: string | undefined): ResolvedSession | undefined | Miss {
    if (!id || !ID_PATTERN.test(id)) return undefined;
    const idHash = hashSessionId(id);
    const session = this.cache.get(idHash);
    if (!session) return MISS;
    const user = this.users.peek(session.username);
    if (user === undefined) return MISS;
    this.stats.hit('session');
    return this.validate(idHash, session, user ?? undefined);
  }

  /** Resolves a cookie value; undefined when absent, unknown, expired or no longer valid. */
  async resolve(id: string | undefined): Promise<ResolvedSession | undefined> {
    const cached = this.resolveCached(id);
    if (cached !== MISS) return cached;
    const idHash = hashSessionId(id as string);
    let session = this.cache.get(idHash);
    if (session) this.stats.hit('session');
    else {
      this.stats.miss('session');
      const generation = this.generation;
      session = await this.store.getSession(idHash);
      if (!session) return undefined;
      if (generation === this.generation) this.cache.set(idHash, session);
    }
    return this.validate(idHash, session, await this.users.get(session.username));
  }

  /** Timeouts, then the user's state; writes last-seen back at most once per touch interval. */
  private validate(idHash: string, session: SessionRecord, user: UserRecord | undefined): ResolvedSession | undefined {
    const now = this.now();
    if (now >= session.expires_at || now - session.last_seen_at >= this.options.idleTimeoutMs) {
      this.forget(idHash);
      void this.store.deleteSession(idHash).catch(() => undefined);
      return undefined;
    }
    if (!user || user.disabled || user.auth_version !== session.auth_version) {
      this.forget(idHash);
      return undefined;
    }
    if (now - session.last_seen_at >= this.touchIntervalMs) {
      session.last_seen_at = now;
      void this.store.touchSession(idHash, now).catch((err: unknown) => this.options.onTouchError?.(err));
    }
    return { session, user };
  }

  async destroy(id: string | undefined): Promise<SessionRecord | undefined> {
    if (!id || !ID_PATTERN.test(id)) return undefined;
    const idHash = hashSessionId(id);
    const session = this.cache.get(idHash) ?? (await this.store.getSession(idHash));
    this.forget(idHash);
    await this.store.deleteSession(idHash);
    return session;
  }

  /** Change notification: a session row went away. */
  forget(idHash: string): void {
    this.generation++;
    this.cache.delete(idHash);
  }

  /**
   * Change notification for a user. Sessions of one user need no scan: the reloaded user's
   * auth_version (bumped when sessions must end) or its absence invalidates them. '*' means
   * notifications may have been missed, so everything is dropped.
   */
  forgetAll(): void {
    this.generation++;
    this.cache.clear();
  }
}

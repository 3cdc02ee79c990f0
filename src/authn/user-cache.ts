/**
 * Per-process cache of user records, in front of the store on the hot path. Entries are
 * dropped on change notifications (this replica's and, with PostgreSQL, every other's),
 * and have a short TTL as a second line of defence should a notification be lost.
 */
import { LRUCache } from 'lru-cache';
import type { Store, UserRecord } from '../store/types.js';
import { userKey } from '../store/types.js';

export interface CacheStats {
  hit(cache: string): void;
  miss(cache: string): void;
}

export const noStats: CacheStats = { hit: () => undefined, miss: () => undefined };

type Entry = { user: UserRecord } | { user: undefined };

export class UserCache {
  private readonly store: Store;
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<UserRecord | undefined>>();
  private readonly stats: CacheStats;
  private generation = 0;

  constructor(store: Store, options: { max?: number; ttlMs?: number; stats?: CacheStats } = {}) {
    this.store = store;
    this.stats = options.stats ?? noStats;
    this.cache = new LRUCache<string, Entry>({ max: options.max ?? 50_000, ttl: options.ttlMs ?? 60_000 });
  }

  /**
   * The cached record without waiting: the user, null for a cached "no such user", or
   * undefined when the store must be asked (then call get).
   */
  peek(username: string): UserRecord | null | undefined {
    const cached = this.cache.get(userKey(username));
    if (!cached) return undefined;
    this.stats.hit('user');
    return cached.user ?? null;
  }

  async get(username: string): Promise<UserRecord | undefined> {
    const cachedUser = this.peek(username);
    if (cachedUser !== undefined) return cachedUser ?? undefined;
    const key = userKey(username);
    this.stats.miss('user');
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const generation = this.generation;
    const load = this.store.getUser(key).then(
      (user) => {
        this.inflight.delete(key);
        // A change notification that arrived while loading makes this result stale.
        if (generation === this.generation) this.cache.set(key, { user });
        return user;
      },
      (err: unknown) => {
        this.inflight.delete(key);
        throw err;
      },
    );
    this.inflight.set(key, load);
    return load;
  }

  invalidate(username: string): void {
    this.generation++;
    if (username === '*') this.cache.clear();
    else this.cache.delete(userKey(username));
  }

  get size(): number {
    return this.cache.size;
  }
}

/**
 * Gateway API tokens (SPEC 8): opaque `pcl_<43 chars>` secrets (256 bits) stored as SHA-256,
 * or for users with role api a gateway-signed JWT whose `jti` is the token id. Either is
 * checked against its record (revocation, expiry) and the owner's auth_version, so a
 * revoke, password or role change ends it. Verifications are cached per process and
 * dropped on change notifications; last-used is written at most once a minute.
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { PortcullisError } from '../errors/errors.js';
import type { Grant, Store, TokenRecord, UserRecord } from '../store/types.js';
import { identityOf } from './identity-of.js';
import { MISS, sha256, type Miss } from './hot-path.js';
import { noStats, type CacheStats, type UserCache } from './user-cache.js';

export const TOKEN_PREFIX = 'pcl_';
/** The longest lifetime a token may ask for (and how long a retired signing key stays published). */
export const MAX_TOKEN_LIFETIME_MS = 366 * 86_400_000;
/** A token's lifetime when the request names none. */
export const DEFAULT_TOKEN_LIFETIME_MS = 30 * 86_400_000;
const OPAQUE_PATTERN = /^pcl_[A-Za-z0-9_-]{43}$/;

export function hashToken(token: string): string {
  return sha256(token);
}

export function looksLikeOpaqueToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX);
}

/** Whether a token is scoped (SPEC 8): a path scope, read_only, or both. */
export function isScopedToken(token: Pick<TokenRecord, 'scope' | 'read_only'>): boolean {
  return token.scope !== null || token.read_only;
}

export interface TokenSigner {
  signToken(claims: { sub: string; roles: string[]; projects: string[]; source: string; jti: string; token_use: 'api' }, expiresAt: number): Promise<string>;
}

export interface NewTokenInput {
  name: string;
  kind: 'opaque' | 'jwt';
  expiresInMs: number;
  /** Epoch ms the token must not outlive (the caller's own token's expiry). */
  notAfter?: number | undefined;
  scope?: Grant[] | null | undefined;
  readOnly?: boolean | undefined;
}

export type TokenCheck = { ok: true; token: TokenRecord; user: UserRecord } | { ok: false; reason: 'invalid_token' | 'expired_token' | 'revoked_token' | 'account_disabled'; username?: string };

/**
 * Active (unrevoked, unexpired) tokens one user may hold: every token is a row kept until it
 * expires (up to 366 days), a TokenCreated event and webhook, and a line of GET /tokens. A
 * hundred leaves room for one per script, machine and CI job; past it, revoke one first.
 */
export const MAX_ACTIVE_TOKENS_PER_USER = 100;

/**
 * A token id: 16 base64url characters, never beginning with `-`, which would make
 * `portcullis token revoke <id>` read the id as options (one id in 64 did).
 */
export function newTokenId(): string {
  for (;;) {
    const id = randomBytes(12).toString('base64url');
    if (id[0] !== '-') return id;
  }
}

export class ApiTokens {
  private readonly store: Store;
  private readonly users: UserCache;
  private readonly now: () => number;
  private readonly stats: CacheStats;
  /** token id → record (both kinds); opaque tokens are found through byHash first. */
  private readonly byId: LRUCache<string, TokenRecord>;
  private readonly byHash: LRUCache<string, string>;
  /** Bumped by every forget: a store read that overlapped a revocation is not cached. */
  private generation = 0;
  constructor(store: Store, users: UserCache, options: { now?: () => number; stats?: CacheStats } = {}) {
    this.store = store;
    this.users = users;
    this.now = options.now ?? Date.now;
    this.stats = options.stats ?? noStats;
    this.byId = new LRUCache<string, TokenRecord>({ max: 50_000, ttl: 60_000 });
    this.byHash = new LRUCache<string, string>({ max: 50_000, ttl: 60_000 });
  }

  /**
   * Creates a token for the user, whichever way it is asked for (the API, `POST /.auth/token`):
   * 403 forbidden for a jwt token unless the user's identity holds api (a `jwt:` record never
   * does, SPEC 3); 409 conflict when the user already holds MAX_ACTIVE_TOKENS_PER_USER active
   * ones (counted by the store in the insert's transaction, serialised per user across replicas).
   * `notAfter`: the expiry of the token that authenticated the request, which the new one never
   * outlives (SPEC 8; a longer lifetime is clamped to it). `scope`/`readOnly`: see TokenRecord.
   */
  async create(user: UserRecord, input: NewTokenInput, signer?: TokenSigner): Promise<{ record: TokenRecord; token: string }> {
    if (input.kind === 'jwt' && !identityOf(user, 'api_token').roles.includes('api')) throw new PortcullisError('forbidden', 'Only users with role api may create jwt tokens');
    const now = this.now();
    const id = newTokenId();
    const expiresAt = Math.min(now + input.expiresInMs, input.notAfter ?? Number.POSITIVE_INFINITY);
    let token: string;
    if (input.kind === 'jwt') {
      if (!signer) throw new PortcullisError('internal_error', 'token signing is not available');
      token = await signer.signToken({ sub: user.username, roles: user.roles, projects: user.projects, source: user.source, jti: id, token_use: 'api' }, expiresAt);
    } else {
      token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    }
    const record: TokenRecord = {
      id,
      token_hash: hashToken(token),
      username: user.username,
      name: input.name,
      kind: input.kind,
      auth_version: user.auth_version,
      created_at: now,
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
      scope: input.scope ?? null,
      read_only: input.readOnly ?? false,
    };
    await this.store.createToken(record, { maxActive: MAX_ACTIVE_TOKENS_PER_USER });
    return { record, token };
  }

  /** verifyOpaque from the caches alone, or MISS when the store must be asked. */
  verifyOpaqueCached(token: string): TokenCheck | Miss {
    if (!OPAQUE_PATTERN.test(token)) return { ok: false, reason: 'invalid_token' };
    const id = this.byHash.get(hashToken(token));
    const record = id === undefined ? undefined : this.byId.get(id);
    if (!record) return MISS;
    return this.checkCached(record);
  }

  /** Checks an opaque `pcl_` token. */
  async verifyOpaque(token: string): Promise<TokenCheck> {
    const cached = this.verifyOpaqueCached(token);
    if (cached !== MISS) return cached;
    const tokenHash = hashToken(token);
    const id = this.byHash.get(tokenHash);
    let record = id === undefined ? undefined : this.byId.get(id);
    if (record) this.stats.hit('token');
    else {
      this.stats.miss('token');
      const generation = this.generation;
      record = await this.store.getTokenByHash(tokenHash);
      if (record?.kind !== 'opaque') return { ok: false, reason: 'invalid_token' };
      if (generation === this.generation) {
        this.byId.set(record.id, record);
        this.byHash.set(tokenHash, record.id);
      }
    }
    return this.check(record);
  }

  /** verifyJwtRecord from the caches alone, or MISS. */
  verifyJwtRecordCached(id: string, username: string): TokenCheck | Miss {
    const record = this.byId.get(id);
    if (!record) return MISS;
    if (record.username.toLowerCase() !== username.toLowerCase()) return { ok: false, reason: 'invalid_token', username };
    return this.checkCached(record);
  }

  /** Checks the record behind a verified gateway JWT (its jti is the token id). */
  async verifyJwtRecord(id: string, username: string): Promise<TokenCheck> {
    const cached = this.verifyJwtRecordCached(id, username);
    if (cached !== MISS) return cached;
    let record = this.byId.get(id);
    if (record) this.stats.hit('token');
    else {
      this.stats.miss('token');
      const generation = this.generation;
      record = await this.store.getToken(id);
      if (record?.kind !== 'jwt') return { ok: false, reason: 'invalid_token', username };
      if (generation === this.generation) this.byId.set(id, record);
    }
    if (record.username.toLowerCase() !== username.toLowerCase()) return { ok: false, reason: 'invalid_token', username };
    return this.check(record);
  }

  private checkCached(record: TokenRecord): TokenCheck | Miss {
    const user = this.users.peek(record.username);
    if (user === undefined) return MISS;
    this.stats.hit('token');
    return this.checkWith(record, user ?? undefined);
  }

  private async check(record: TokenRecord): Promise<TokenCheck> {
    return this.checkWith(record, await this.users.get(record.username));
  }

  private checkWith(record: TokenRecord, user: UserRecord | undefined): TokenCheck {
    const now = this.now();
    if (record.revoked_at !== null) return { ok: false, reason: 'revoked_token', username: record.username };
    if (now >= record.expires_at) return { ok: false, reason: 'expired_token', username: record.username };
    if (!user) return { ok: false, reason: 'revoked_token', username: record.username };
    if (user.disabled) return { ok: false, reason: 'account_disabled', username: record.username };
    if (user.auth_version !== record.auth_version) return { ok: false, reason: 'revoked_token', username: record.username };
    if (record.last_used_at === null || now - record.last_used_at >= 60_000) {
      record.last_used_at = now;
      void this.store.touchToken(record.id, now).catch(() => undefined);
    }
    return { ok: true, token: record, user };
  }

  /** Change notification: one token changed (revoked). */
  forget(id: string): void {
    this.generation++;
    this.byId.delete(id);
  }

  forgetAll(): void {
    this.generation++;
    this.byId.clear();
    this.byHash.clear();
  }
}

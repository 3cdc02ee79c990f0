/**
 * What an upgraded WebSocket was authorised by, and whether that still stands (SPEC 7: a socket
 * closes within the second its credential ends). A grant names the user (with the auth_version
 * and created_at of its record at the handshake), the session or token it came with, and the
 * credential's own expiry. A re-check reads the store directly, never a cache and never a
 * session's or token's last-seen write: checking a session must not extend it.
 *
 * Only upgrades pay for this; an ordinary request never builds a grant.
 */
import { decodeBasicCredentials } from '../http/basic-auth.js';
import type { Store, UserRecord } from '../store/types.js';
import { userKey } from '../store/types.js';
import type { Authentication, RequestCredentials } from './authenticate.js';
import { hashToken, looksLikeOpaqueToken } from './api-tokens.js';

export interface SocketGrant {
  /** The user key (lower-case). */
  username: string;
  authVersion: number;
  /** Tells a deleted and re-created user of the same name (and auth_version) from the old one. */
  userCreatedAt: number;
  /** SHA-256 of the session id, when the credential was the session cookie. */
  sessionHash?: string;
  /** The token id (an opaque token's, a gateway JWT's jti). */
  tokenId?: string;
  /** When the credential ends on its own (ms); Infinity for Basic and anonymous. */
  expiresAt: number;
}

export type GrantVerdict =
  | { alive: true; expiresAt: number }
  | { alive: false; reason: 'user_deleted' | 'user_disabled' | 'user_changed' | 'session_ended' | 'token_revoked' | 'expired' }
  | { alive: 'unknown'; error: unknown };

type StoreReads = Pick<Store, 'getUser' | 'getSession' | 'getToken' | 'getTokenByHash'>;

export interface SocketGrantsOptions {
  /** The gateway's own issuer (server.public_url): tells gateway JWTs from external ones. */
  issuer: string;
  idleTimeoutMs: number;
  now: () => number;
}

/** Reads shared by the grants of one re-check: one store read per user, session and token. */
class Reads {
  private readonly memo = new Map<string, Promise<unknown>>();
  constructor(private readonly store: StoreReads) {}

  private once<T>(key: string, read: () => Promise<T>): Promise<T> {
    let pending = this.memo.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      pending = read();
      this.memo.set(key, pending);
    }
    return pending;
  }

  user(key: string): ReturnType<Store['getUser']> {
    return this.once(`u:${key}`, () => this.store.getUser(key));
  }

  session(idHash: string): ReturnType<Store['getSession']> {
    return this.once(`s:${idHash}`, () => this.store.getSession(idHash));
  }

  token(id: string): ReturnType<Store['getToken']> {
    return this.once(`t:${id}`, () => this.store.getToken(id));
  }
}

export class SocketGrants {
  private readonly store: StoreReads;
  private readonly options: SocketGrantsOptions;

  constructor(store: StoreReads, options: SocketGrantsOptions) {
    this.store = store;
    this.options = options;
  }

  /**
   * The grant of an authenticated handshake; undefined when the credential can no longer be
   * described (a token revoked since it was verified): the upgrade is then refused.
   */
  async grantFor(credentials: RequestCredentials, auth: Extract<Authentication, { kind: 'identity' }>): Promise<SocketGrant | undefined> {
    const user = auth.user;
    if (user === undefined) return undefined;
    const base = { username: userKey(user.username), authVersion: user.auth_version, userCreatedAt: user.created_at };
    const method = auth.identity.method;
    if (method === 'session') {
      const session = auth.session?.session;
      if (session === undefined) return undefined;
      return { ...base, sessionHash: session.id_hash, expiresAt: this.sessionExpiry(session) };
    }
    if (method === 'api_token' || method === 'bearer') {
      const token = bearerOf(credentials);
      return token === undefined ? undefined : this.tokenGrant(base, token);
    }
    // A Basic password that is the user's own API token (SPEC 3) ends with that token.
    const password = basicPasswordOf(credentials);
    if (password !== undefined && looksLikeOpaqueToken(password)) return this.tokenGrant(base, password);
    return { ...base, expiresAt: Infinity };
  }

  private async tokenGrant(base: Omit<SocketGrant, 'expiresAt'>, token: string): Promise<SocketGrant | undefined> {
    if (looksLikeOpaqueToken(token)) {
      const record = await this.store.getTokenByHash(hashToken(token));
      return record === undefined ? undefined : { ...base, tokenId: record.id, expiresAt: record.expires_at };
    }
    // Verified by authenticate() just now: its claims can be read as they are.
    const claims = jwtClaims(token);
    if (claims === undefined || typeof claims.exp !== 'number') return undefined;
    if (claims.iss !== this.options.issuer) return { ...base, expiresAt: claims.exp * 1000 };
    if (typeof claims.jti !== 'string') return undefined;
    return { ...base, tokenId: claims.jti, expiresAt: claims.exp * 1000 };
  }

  /** Verdicts for the grants, in their order; a grant whose reads failed is 'unknown'. */
  async recheck(grants: readonly SocketGrant[]): Promise<GrantVerdict[]> {
    const reads = new Reads(this.store);
    const settled = await Promise.allSettled(grants.map((grant) => this.verdict(grant, reads)));
    return settled.map((result) => (result.status === 'fulfilled' ? result.value : { alive: 'unknown', error: result.reason }));
  }

  private async verdict(grant: SocketGrant, reads: Reads): Promise<GrantVerdict> {
    const user = await reads.user(grant.username);
    const ended = userEnded(grant, user);
    if (ended !== undefined) return { alive: false, reason: ended };
    let expiresAt = grant.expiresAt;
    if (grant.sessionHash !== undefined) {
      const session = await reads.session(grant.sessionHash);
      if (session === undefined || session.auth_version !== grant.authVersion) return { alive: false, reason: 'session_ended' };
      // Requests with the same session elsewhere may have moved its last-seen on: read, never written.
      expiresAt = this.sessionExpiry(session);
    }
    if (grant.tokenId !== undefined) {
      const token = await reads.token(grant.tokenId);
      if (token === undefined || token.revoked_at !== null || token.auth_version !== grant.authVersion) return { alive: false, reason: 'token_revoked' };
      expiresAt = Math.min(expiresAt, token.expires_at);
    }
    if (this.options.now() >= expiresAt) return { alive: false, reason: 'expired' };
    return { alive: true, expiresAt };
  }

  private sessionExpiry(session: { expires_at: number; last_seen_at: number }): number {
    return Math.min(session.expires_at, session.last_seen_at + this.options.idleTimeoutMs);
  }
}

function userEnded(grant: SocketGrant, user: UserRecord | undefined): 'user_deleted' | 'user_disabled' | 'user_changed' | undefined {
  if (user === undefined) return 'user_deleted';
  if (user.disabled) return 'user_disabled';
  if (user.auth_version !== grant.authVersion || user.created_at !== grant.userCreatedAt) return 'user_changed';
  return undefined;
}

/** The token of X-Authentication or `Authorization: Bearer`, as authenticate() selects it. */
function bearerOf(credentials: RequestCredentials): string | undefined {
  if (credentials.xAuthentication !== undefined) return credentials.xAuthentication.trim();
  const authorization = credentials.authorization;
  if (authorization === undefined) return undefined;
  const space = authorization.indexOf(' ');
  if (space === -1 || authorization.slice(0, space).toLowerCase() !== 'bearer') return undefined;
  return authorization.slice(space + 1).trim();
}

function jwtClaims(token: string): { iss?: unknown; exp?: unknown; jti?: unknown } | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    return claims !== null && typeof claims === 'object' && !Array.isArray(claims) ? (claims as { iss?: unknown; exp?: unknown; jti?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

/** The password of a Basic credential, undefined for anything else. */
function basicPasswordOf(credentials: RequestCredentials): string | undefined {
  const header = credentials.authorization;
  if (header === undefined || !/^basic /i.test(header)) return undefined;
  return decodeBasicCredentials(header.slice(6).trim())?.password;
}

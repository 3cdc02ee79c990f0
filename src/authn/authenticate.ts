/**
 * The credential pipeline (SPEC 3): X-Authentication, then Authorization (Bearer, Basic),
 * then the session cookie, then anonymous. The first credential present decides: an invalid
 * X-Authentication or Authorization is a 401 everywhere, never a fall-through to a weaker
 * credential; an invalid session cookie counts as absent and is cleared.
 */
import { LRUCache } from 'lru-cache';
import { privilegedRoles, type Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { RequestContext } from '../events/types.js';
import type { TokenRecord, UserRecord } from '../store/types.js';
import type { Store } from '../store/types.js';
import { decodeBasicCredentials } from '../http/basic-auth.js';
import { readCookie } from '../http/cookies.js';
import { isScopedToken, looksLikeOpaqueToken, type ApiTokens } from './api-tokens.js';
import { MISS, sha256, type Miss } from './hot-path.js';
import { federateUser, type ExternalClaims, type FederationContext } from './federation.js';
import { identityOf } from './identity-of.js';
import type { AuthMethod, Identity, LoginFailureReason, UserType } from './identity.js';
import type { PasswordChain } from './password-chain.js';
import type { ResolvedSession, SessionManager } from './sessions.js';
import type { UserCache } from './user-cache.js';

export type ExternalJwtOutcome =
  | { kind: 'not_mine' }
  | { kind: 'ok'; issuer: Config['jwt_issuers'][number]; claims: ExternalClaims }
  | { kind: 'failed'; reason: 'invalid_token' | 'expired_token' | 'untrusted_issuer' | 'privileged_role'; issuerName?: string; username?: string };

/** Structural view of src/authn/external-jwt.ts. */
export interface ExternalJwtView {
  handles(token: string): boolean;
  verify(token: string): Promise<ExternalJwtOutcome>;
}

/** Structural view of the gateway's own JWT verification (src/authn/gateway-keys.ts). */
export interface GatewayJwtView {
  verifiedToken(token: string): { sub: string; jti: string; roles: string[]; exp: number } | Miss;
  verifyToken(token: string): Promise<{ sub: string; jti: string; roles: string[]; exp: number } | undefined>;
}

export type Authentication =
  | {
      kind: 'identity';
      identity: Identity;
      user: UserRecord | undefined;
      session?: ResolvedSession;
      clearCookie?: boolean;
      /**
       * The record of a scoped API token credential (SPEC 8), set by both paths whenever the
       * token is scoped and never otherwise: the authoriser checks the request against it.
       */
      scope?: TokenRecord;
      /** The record of an API token credential (either kind), set by authenticate() only: the API bounds the tokens it mints by it. */
      token?: TokenRecord;
    }
  | { kind: 'none'; clearCookie: boolean }
  | { kind: 'failed'; status: 401 | 503; reason: LoginFailureReason; scheme: 'Bearer' | 'Basic' };

export interface RequestCredentials {
  xAuthentication: string | undefined;
  authorization: string | undefined;
  cookie: string | undefined;
}

export interface AuthenticatorOptions {
  config: Config;
  store: Store;
  users: UserCache;
  sessions: SessionManager;
  passwords: PasswordChain;
  tokens: ApiTokens;
  events: EventBus;
  externalJwt?: ExternalJwtView | undefined;
  gatewayJwt?: GatewayJwtView | undefined;
  /** The privileged roles and the directory's names for provisioning (default: the schema's privileged roles, no directory). */
  federation?: FederationContext;
  recordLogin?: (result: 'success' | 'failure', userType: UserType, reason: string) => void;
  now?: () => number;
}

/**
 * The answer of the cached path for a token credential. An unscoped token's is the same three
 * fields as ever: the hot path (benchmarked) allocates nothing more for it.
 */
function cachedTokenIdentity(identity: Identity, user: UserRecord, token: TokenRecord): Authentication {
  if (isScopedToken(token)) return { kind: 'identity', identity, user, scope: token };
  return { kind: 'identity', identity, user };
}

/** The answer of authenticate() for a token credential: with its record, and as `scope` when scoped. */
function tokenIdentity(identity: Identity, user: UserRecord, token: TokenRecord): Authentication {
  if (isScopedToken(token)) return { kind: 'identity', identity, user, token, scope: token };
  return { kind: 'identity', identity, user, token };
}

/** A Basic credential whose password is an opaque API token (`pcl_…`), or undefined. */
function basicToken(value: string): { username: string; token: string } | undefined {
  const credentials = decodeBasicCredentials(value);
  if (credentials === undefined || !looksLikeOpaqueToken(credentials.password)) return undefined;
  return { username: credentials.username, token: credentials.password };
}

function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** `Authorization: <scheme> <value>`: the scheme lower-cased, the value trimmed ('' when absent). */
function splitAuthorization(header: string): { scheme: string; value: string } {
  const space = header.indexOf(' ');
  if (space === -1) return { scheme: header.toLowerCase(), value: '' };
  return { scheme: header.slice(0, space).toLowerCase(), value: header.slice(space + 1).trim() };
}

/**
 * A verified external JWT, remembered until its exp (at most an hour). It stands only for the
 * user record it was federated into: same source and auth_version (bumped by a role change,
 * disable, revoke; new for a recreated user), so a role change, a revoke, or a deleted user
 * recreated under the same name (say, as a local user) ends it at once.
 */
interface CachedExternal {
  username: string;
  source: string;
  authVersion: number;
  /** The token's roles and projects (provision); undefined when they come from the store (existing). */
  claimed: { roles: string[]; projects: string[] } | undefined;
  expiresAt: number;
}

function stillFor(cached: CachedExternal, user: UserRecord | undefined): user is UserRecord {
  return user !== undefined && !user.disabled && user.source === cached.source && user.auth_version === cached.authVersion;
}

export class Authenticator {
  private readonly options: AuthenticatorOptions;
  private readonly now: () => number;
  private readonly gatewayIssuer: string;
  private readonly external: LRUCache<string, CachedExternal>;
  private readonly seenTokens: LRUCache<string, true>;
  private readonly privileged: ReadonlySet<string>;
  private readonly federation: FederationContext;

  constructor(options: AuthenticatorOptions) {
    this.options = options;
    this.privileged = privilegedRoles(options.config);
    this.federation = options.federation ?? { privileged: this.privileged };
    this.now = options.now ?? Date.now;
    this.gatewayIssuer = options.config.server.public_url;
    this.external = new LRUCache<string, CachedExternal>({ max: 20_000, ttl: 3_600_000 });
    this.seenTokens = new LRUCache<string, true>({ max: 20_000, ttl: 3_600_000 });
  }

  /**
   * The answer for credentials verified before, from the in-process caches alone and without
   * waiting; MISS whenever anything else is needed (a store read, a signature check, a KDF or
   * bind, a first-use event, any failure) — then authenticate() gives the answer.
   */
  authenticateCached(credentials: RequestCredentials): Authentication | Miss {
    if (credentials.xAuthentication !== undefined) return this.tokenCached(credentials.xAuthentication.trim(), 'api_token');
    if (credentials.authorization !== undefined) {
      const { scheme, value } = splitAuthorization(credentials.authorization);
      // `Token` is InfluxDB v2 clients' spelling of Bearer (SPEC 3).
      if (scheme === 'bearer' || scheme === 'token') return this.tokenCached(value, 'bearer');
      if (scheme !== 'basic') return MISS;
      // The verified-password cache first, by the header's value as sent (no decoding): a
      // password that is a `pcl_` token never goes through the password chain, so never in it.
      const result = this.options.passwords.verifyCached(value);
      if (result !== MISS && result.ok) return { kind: 'identity', identity: identityOf(result.user, 'basic', undefined, this.privileged), user: result.user };
      const token = basicToken(value);
      return token === undefined ? MISS : this.basicTokenCached(token);
    }
    const cookie = readCookie(credentials.cookie, this.options.config.session.cookie_name);
    if (cookie.ambiguous) return MISS;
    if (cookie.value === undefined) return this.anonymousCached();
    const resolved = this.options.sessions.resolveCached(cookie.value);
    if (resolved === MISS || resolved === undefined) return MISS;
    return { kind: 'identity', identity: identityOf(resolved.user, 'session', undefined, this.privileged), user: resolved.user, session: resolved };
  }

  private anonymousCached(): Authentication | Miss {
    const name = this.options.config.anonymous_user;
    if (name === '') return { kind: 'none', clearCookie: false };
    const user = this.options.users.peek(name);
    if (user === undefined) return MISS;
    if (!user || user.disabled) return { kind: 'none', clearCookie: false };
    return { kind: 'identity', identity: identityOf(user, 'anonymous', undefined, this.privileged), user };
  }

  private tokenCached(token: string, method: 'api_token' | 'bearer'): Authentication | Miss {
    if (token === '' || token.length > 8192) return MISS;
    if (looksLikeOpaqueToken(token)) {
      const check = this.options.tokens.verifyOpaqueCached(token);
      if (check === MISS || !check.ok || !this.seenTokens.has(check.token.id)) return MISS;
      return cachedTokenIdentity(identityOf(check.user, method, undefined, this.privileged), check.user, check.token);
    }
    if (method === 'api_token') return MISS;
    const gatewayClaims = this.options.gatewayJwt?.verifiedToken(token) ?? MISS;
    if (gatewayClaims !== MISS) {
      const check = this.options.tokens.verifyJwtRecordCached(gatewayClaims.jti, gatewayClaims.sub);
      if (check === MISS || !check.ok || !this.seenTokens.has(check.token.id)) return MISS;
      return cachedTokenIdentity(identityOf(check.user, 'bearer', undefined, this.privileged), check.user, check.token);
    }
    const cached = this.external.get(sha256(token));
    if (!cached || cached.expiresAt <= this.now()) return MISS;
    const user = this.options.users.peek(cached.username);
    if (!user || !stillFor(cached, user)) return MISS;
    return { kind: 'identity', identity: identityOf(user, 'bearer', cached.claimed, this.privileged), user };
  }

  async authenticate(credentials: RequestCredentials, context: RequestContext): Promise<Authentication> {
    if (credentials.xAuthentication !== undefined) return this.fromToken(credentials.xAuthentication.trim(), 'api_token', context);
    if (credentials.authorization !== undefined) {
      const { scheme, value } = splitAuthorization(credentials.authorization);
      if (scheme === 'bearer' || scheme === 'token') return this.fromToken(value, 'bearer', context);
      if (scheme === 'basic') {
        const token = basicToken(value);
        return token === undefined ? this.fromBasic(value, context) : this.fromBasicToken(token, context);
      }
      return { kind: 'failed', status: 401, reason: 'invalid_token', scheme: 'Bearer' };
    }
    const { config, sessions } = this.options;
    const cookie = readCookie(credentials.cookie, config.session.cookie_name);
    if (cookie.ambiguous) return { kind: 'none', clearCookie: true };
    if (cookie.value !== undefined) {
      const resolved = await sessions.resolve(cookie.value);
      if (resolved) return { kind: 'identity', identity: identityOf(resolved.user, 'session', undefined, this.privileged), user: resolved.user, session: resolved };
      return this.anonymous(true);
    }
    return this.anonymous(false);
  }

  private async anonymous(clearCookie: boolean): Promise<Authentication> {
    const name = this.options.config.anonymous_user;
    if (name === '') return { kind: 'none', clearCookie };
    const user = await this.options.users.get(name);
    if (!user || user.disabled) return { kind: 'none', clearCookie };
    // The anonymous identity stands in for a session cookie that was no good: still clear it.
    return { kind: 'identity', identity: identityOf(user, 'anonymous', undefined, this.privileged), user, ...(clearCookie ? { clearCookie } : {}) };
  }

  private async fromBasic(value: string, context: RequestContext): Promise<Authentication> {
    const credentials = decodeBasicCredentials(value);
    if (!credentials) return { kind: 'failed', status: 401, reason: 'unknown_user', scheme: 'Basic' };
    const result = await this.options.passwords.verify(credentials.username, credentials.password, 'basic', context, value);
    if (!result.ok) return { kind: 'failed', status: result.status, reason: result.reason, scheme: 'Basic' };
    return { kind: 'identity', identity: identityOf(result.user, 'basic', undefined, this.privileged), user: result.user };
  }

  /** basicToken's token from the caches: only for that same user (a Basic method identity). */
  private basicTokenCached(basic: { username: string; token: string }): Authentication | Miss {
    const check = this.options.tokens.verifyOpaqueCached(basic.token);
    if (check === MISS || !check.ok || !this.seenTokens.has(check.token.id) || !sameUser(check.user.username, basic.username)) return MISS;
    return cachedTokenIdentity(identityOf(check.user, 'basic', undefined, this.privileged), check.user, check.token);
  }

  /**
   * A Basic password that is an API token (SPEC 3): that token, for clients that can send only
   * Basic, and only for the user named with it. Never falls back to the password chain.
   */
  private async fromBasicToken(basic: { username: string; token: string }, context: RequestContext): Promise<Authentication> {
    const fail = (reason: LoginFailureReason, username: string): Authentication => {
      this.options.recordLogin?.('failure', 'token', reason);
      this.options.events.emit('UserLoginFailed', username, { user_type: 'token', reason, method: 'basic' }, context);
      return { kind: 'failed', status: 401, reason, scheme: 'Basic' };
    };
    if (basic.token.length > 8192) return fail('invalid_token', basic.username);
    const check = await this.options.tokens.verifyOpaque(basic.token);
    if (!check.ok) return fail(check.reason, basic.username);
    if (!sameUser(check.user.username, basic.username)) return fail('invalid_token', basic.username);
    this.announce(check.token.id, check.user, 'token', 'basic', context);
    return tokenIdentity(identityOf(check.user, 'basic', undefined, this.privileged), check.user, check.token);
  }

  private async fromToken(token: string, method: 'api_token' | 'bearer', context: RequestContext): Promise<Authentication> {
    const fail = (reason: LoginFailureReason, userType: UserType, username = ''): Authentication => {
      this.options.recordLogin?.('failure', userType, reason);
      this.options.events.emit('UserLoginFailed', username, { user_type: userType, reason, method }, context);
      return { kind: 'failed', status: 401, reason, scheme: 'Bearer' };
    };
    if (token === '' || token.length > 8192) return fail('invalid_token', 'token');
    if (looksLikeOpaqueToken(token)) {
      const check = await this.options.tokens.verifyOpaque(token);
      if (!check.ok) return fail(check.reason, 'token', check.username);
      this.announce(check.token.id, check.user, 'token', method, context);
      return tokenIdentity(identityOf(check.user, method, undefined, this.privileged), check.user, check.token);
    }
    if (method === 'api_token') return fail('invalid_token', 'token');
    const iss = unverifiedIssuer(token);
    if (iss === undefined) return fail('invalid_token', 'token');
    if (iss === this.gatewayIssuer) return this.fromGatewayJwt(token, context, fail);
    return this.fromExternalJwt(token, context, fail);
  }

  private async fromGatewayJwt(token: string, context: RequestContext, fail: (reason: LoginFailureReason, userType: UserType, username?: string) => Authentication): Promise<Authentication> {
    const claims = await this.options.gatewayJwt?.verifyToken(token);
    if (!claims) return fail('invalid_token', 'token');
    const check = await this.options.tokens.verifyJwtRecord(claims.jti, claims.sub);
    if (!check.ok) return fail(check.reason, 'token', claims.sub);
    this.announce(check.token.id, check.user, 'token', 'bearer', context);
    return tokenIdentity(identityOf(check.user, 'bearer', undefined, this.privileged), check.user, check.token);
  }

  private async fromExternalJwt(token: string, context: RequestContext, fail: (reason: LoginFailureReason, userType: UserType, username?: string) => Authentication): Promise<Authentication> {
    const key = sha256(token);
    const cached = this.external.get(key);
    const now = this.now();
    if (cached && cached.expiresAt > now) {
      const user = await this.options.users.get(cached.username);
      if (stillFor(cached, user)) return { kind: 'identity', identity: identityOf(user, 'bearer', cached.claimed, this.privileged), user };
      this.external.delete(key);
    }
    const verifier = this.options.externalJwt;
    if (!verifier) return fail('untrusted_issuer', 'jwt');
    const result = await verifier.verify(token);
    if (result.kind === 'not_mine') return fail('invalid_token', 'jwt');
    if (result.kind === 'failed') return fail(result.reason, 'jwt', result.username);
    const federated = await federateUser(this.options.store, result.issuer, result.claims, now, this.federation);
    if (!federated.ok) return fail(federated.reason, 'jwt', result.claims.username);
    const ttl = Math.max(1, Math.min(result.claims.exp * 1000 - now, 3_600_000));
    const { username, source, auth_version: authVersion } = federated.user;
    // With users: existing the roles and projects are the store's: read from the live record on
    // every request (a projects change bumps no auth_version), not remembered from this one.
    const claimed = result.issuer.users === 'existing' ? undefined : { roles: federated.roles, projects: federated.projects, attributes: federated.attributes };
    this.external.set(key, { username, source, authVersion, claimed, expiresAt: result.claims.exp * 1000 }, { ttl });
    this.options.users.invalidate(federated.user.username);
    this.options.recordLogin?.('success', 'jwt', '');
    this.options.events.emit('UserLoggedIn', federated.user.username, { user_type: 'jwt', roles: federated.roles, method: 'bearer', issuer: result.issuer.name }, context);
    return { kind: 'identity', identity: identityOf(federated.user, 'bearer', claimed, this.privileged), user: federated.user };
  }

  /** UserLoggedIn for a token credential the first time this process verifies it (keyed by token id). */
  private announce(tokenId: string, user: UserRecord, userType: UserType, method: AuthMethod, context: RequestContext): void {
    if (this.seenTokens.has(tokenId)) return;
    this.seenTokens.set(tokenId, true);
    this.options.recordLogin?.('success', userType, '');
    this.options.events.emit('UserLoggedIn', user.username, { user_type: userType, roles: user.roles, method }, context);
  }

  forgetAll(): void {
    this.external.clear();
  }
}

/** The `iss` of a JWT-shaped token without verifying it (selection only), or undefined. */
export function unverifiedIssuer(token: string): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p)) || !parts[0] || !parts[1]) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as unknown;
    if (!payload || typeof payload !== 'object' || Array.isArray(payload)) return undefined;
    const iss = (payload as { iss?: unknown }).iss;
    return typeof iss === 'string' ? iss : '';
  } catch {
    return undefined;
  }
}

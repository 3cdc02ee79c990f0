/**
 * The gateway's own signing keys: ES256 keys generated on first start and kept in the store
 * (shared by replicas), published at /.auth/jwks.json. They sign the X-Auth-Assertion sent
 * to backends and the `kind: jwt` API tokens. Rotation keeps the previous key published
 * until every token it signed can have expired.
 */
import { MAX_TOKEN_LIFETIME_MS } from './api-tokens.js';
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { SignJWT, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, jwtVerify, type CryptoKey, type JWK } from 'jose';
import type { SigningKeyRecord, Store } from '../store/types.js';
import { MISS, type Miss } from './hot-path.js';

export interface VerifiedGatewayJwt {
  sub: string;
  jti: string;
  roles: string[];
  exp: number;
}

export interface AssertionSubject {
  username: string;
  roles: string[];
  projects: string[];
  source: string;
  attributes?: Readonly<Record<string, readonly string[]>>;
}

function assertionKey(identity: AssertionSubject, audience: string): string {
  return `${audience}\0${identity.username}\0${identity.source}\0${identity.roles.join(',')}\0${identity.projects.join(',')}\0${JSON.stringify(identity.attributes ?? {})}`;
}

const ASSERTION_LIFETIME_S = 60;
const ASSERTION_REUSE_MS = 30_000;
/** API tokens signed by a key may live this long, so a retired key stays published as long. */

interface LoadedKey {
  record: SigningKeyRecord;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export interface GatewayKeysOptions {
  issuer: string;
  now?: () => number;
  logger?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export class GatewayKeys {
  private readonly store: Store;
  private readonly issuer: string;
  private readonly now: () => number;
  private readonly logger: GatewayKeysOptions['logger'];
  private keys: LoadedKey[] = [];
  private active: LoadedKey | undefined;
  private readonly assertions = new LRUCache<string, { token: string; madeAt: number }>({ max: 20_000 });
  /**
   * The last assertion made for a shared, frozen identity (see identityOf), so that a request
   * presenting one finds its assertion without building the cache key. Replaced with the
   * assertions cache whenever the signing key changes.
   */
  private lastFor = new WeakMap<AssertionSubject, { audience: string; token: string; madeAt: number }>();
  /** Verified API JWTs by token, until their exp (the token record is still checked per request). */
  private readonly verified = new LRUCache<string, VerifiedGatewayJwt>({ max: 20_000, ttl: 3_600_000 });

  private constructor(store: Store, options: GatewayKeysOptions) {
    this.store = store;
    this.issuer = options.issuer;
    this.now = options.now ?? Date.now;
    this.logger = options.logger;
  }

  static async load(store: Store, options: GatewayKeysOptions): Promise<GatewayKeys> {
    const keys = new GatewayKeys(store, options);
    await keys.reload();
    if (!keys.active) {
      await keys.insertNewKey();
      await keys.reload();
    }
    if (!keys.active) throw new Error('no active signing key after generating one');
    return keys;
  }

  /** Re-reads keys from the store; the oldest unretired key signs (replicas agree on it). */
  async reload(): Promise<void> {
    const now = this.now();
    const records = (await this.store.listSigningKeys()).filter((r) => r.expires_at === null || r.expires_at > now);
    const loaded: LoadedKey[] = [];
    for (const record of records) {
      try {
        const privateJwk = JSON.parse(record.private_jwk) as JWK;
        const publicJwk = JSON.parse(record.public_jwk) as JWK;
        loaded.push({
          record,
          privateKey: (await importJWK(privateJwk, record.alg)) as CryptoKey,
          publicKey: (await importJWK(publicJwk, record.alg)) as CryptoKey,
          publicJwk: { ...publicJwk, kid: record.kid, alg: record.alg, use: 'sig' },
        });
      } catch (err) {
        this.logger?.('error', 'unusable signing key skipped', { kid: record.kid, err: (err as Error).message });
      }
    }
    loaded.sort((a, b) => a.record.created_at - b.record.created_at || a.record.kid.localeCompare(b.record.kid));
    const active = loaded.find((k) => k.record.retired_at === null);
    if (active?.record.kid !== this.active?.record.kid) {
      this.assertions.clear();
      this.lastFor = new WeakMap();
    }
    // A key that is no longer published must not keep its tokens alive through the cache.
    if (loaded.length !== this.keys.length || loaded.some((k, i) => k.record.kid !== this.keys[i]?.record.kid)) this.verified.clear();
    this.keys = loaded;
    this.active = active;
  }

  private async insertNewKey(): Promise<void> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    await this.store.insertSigningKey({
      kid: randomBytes(12).toString('base64url'),
      alg: 'ES256',
      private_jwk: JSON.stringify(await exportJWK(privateKey)),
      public_jwk: JSON.stringify(await exportJWK(publicKey)),
      created_at: this.now(),
      retired_at: null,
      expires_at: null,
    });
  }

  /** A new key signs from now on; the old one stays published until its tokens expired. */
  async rotate(): Promise<void> {
    const previous = this.active;
    await this.insertNewKey();
    if (previous) {
      const now = this.now();
      await this.store.retireSigningKey(previous.record.kid, now, now + MAX_TOKEN_LIFETIME_MS);
    }
    await this.reload();
    this.logger?.('info', 'signing key rotated', { previous: previous?.record.kid, active: this.active?.record.kid });
  }

  /** Rotates when the active key is older than `maxAgeMs`; returns whether it rotated. */
  async rotateIfOlderThan(maxAgeMs: number): Promise<boolean> {
    await this.reload();
    const active = this.active;
    if (!active || this.now() - active.record.created_at < maxAgeMs) return false;
    await this.rotate();
    return true;
  }

  private activeKey(): LoadedKey {
    if (!this.active) throw new Error('no active signing key');
    return this.active;
  }

  /** The reusable assertion for an identity and route if one is cached, without waiting. */
  cachedAssertion(identity: AssertionSubject, audience: string): string | undefined {
    const now = this.now();
    const last = this.lastFor.get(identity);
    if (last !== undefined && last.audience === audience && now - last.madeAt < ASSERTION_REUSE_MS) return last.token;
    const cached = this.assertions.get(assertionKey(identity, audience));
    if (cached === undefined || now - cached.madeAt >= ASSERTION_REUSE_MS) return undefined;
    this.remember(identity, audience, cached);
    return cached.token;
  }

  /** The X-Auth-Assertion for an identity and route, reused for half its lifetime. */
  async signAssertion(identity: AssertionSubject, audience: string): Promise<string> {
    const cached = this.cachedAssertion(identity, audience);
    if (cached !== undefined) return cached;
    const now = this.now();
    const cacheKey = assertionKey(identity, audience);
    const key = this.activeKey();
    const iat = Math.floor(now / 1000);
    const token = await new SignJWT({ roles: identity.roles, projects: identity.projects, source: identity.source, attributes: identity.attributes ?? {}, token_use: 'assertion' })
      .setProtectedHeader({ alg: key.record.alg, kid: key.record.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(identity.username)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_S)
      .setJti(randomBytes(12).toString('base64url'))
      .sign(key.privateKey);
    // A key change while signing: this assertion is not kept for the new key's requests.
    if (this.active?.record.kid !== key.record.kid) return token;
    const made = { token, madeAt: now };
    this.assertions.set(cacheKey, made);
    this.remember(identity, audience, made);
    return token;
  }

  private remember(identity: AssertionSubject, audience: string, made: { token: string; madeAt: number }): void {
    if (Object.isFrozen(identity)) this.lastFor.set(identity, { audience, token: made.token, madeAt: made.madeAt });
  }

  /** A gateway-issued API JWT (`kind: jwt` tokens). */
  async signToken(claims: { sub: string; roles: string[]; projects: string[]; source: string; jti: string; token_use: 'api' }, expiresAt: number): Promise<string> {
    const key = this.activeKey();
    const { sub, jti, ...rest } = claims;
    return new SignJWT(rest)
      .setProtectedHeader({ alg: key.record.alg, kid: key.record.kid, typ: 'JWT' })
      .setIssuer(this.issuer)
      .setAudience(this.issuer)
      .setSubject(sub)
      .setJti(jti)
      .setIssuedAt(Math.floor(this.now() / 1000))
      .setExpirationTime(Math.floor(expiresAt / 1000))
      .sign(key.privateKey);
  }

  /** A gateway API JWT verified before and not yet expired, or MISS (then call verifyToken). */
  verifiedToken(token: string): VerifiedGatewayJwt | Miss {
    const cached = this.verified.get(token);
    return cached && cached.exp * 1000 > this.now() ? cached : MISS;
  }

  /** Verifies a gateway API JWT; assertions and anything else verify as undefined. */
  async verifyToken(token: string): Promise<VerifiedGatewayJwt | undefined> {
    const cached = this.verifiedToken(token);
    if (cached !== MISS) return cached;
    const result = await this.verifyUncached(token);
    if (result) this.verified.set(token, result, { ttl: Math.max(1, Math.min(result.exp * 1000 - this.now(), 3_600_000)) });
    return result;
  }

  private async verifyUncached(token: string): Promise<{ sub: string; jti: string; roles: string[]; exp: number } | undefined> {
    let kid: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.jku !== undefined || header.x5u !== undefined || header.jwk !== undefined || header.x5c !== undefined) return undefined;
      kid = header.kid;
    } catch {
      return undefined;
    }
    const key = this.keys.find((k) => k.record.kid === kid);
    if (!key) return undefined;
    try {
      const { payload } = await jwtVerify(token, key.publicKey, {
        issuer: this.issuer,
        audience: this.issuer,
        algorithms: [key.record.alg],
        requiredClaims: ['exp', 'sub', 'jti'],
        currentDate: new Date(this.now()),
      });
      if (payload.token_use !== 'api' || typeof payload.sub !== 'string' || typeof payload.jti !== 'string' || typeof payload.exp !== 'number') return undefined;
      const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : [];
      return { sub: payload.sub, jti: payload.jti, roles, exp: payload.exp };
    } catch {
      return undefined;
    }
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}

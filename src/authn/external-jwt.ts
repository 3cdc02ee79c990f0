/**
 * External JWTs (SPEC 3): tokens of configured issuers, selected by exact `iss` and verified
 * with that issuer's keys only. `alg` must be in the issuer's list; key-carrying headers are
 * refused; `exp` is required and the lifetime bounded; admin and api never come from a token.
 * The Authenticator caches what a verified token federates to, so this class does not cache.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type JSONWebKeySet } from 'jose';
import { DEFAULT_PRIVILEGED_ROLES, type JwtIssuerConfig } from '../config/schema.js';
import { sourceAttributes, type Attributes } from '../users/attributes.js';
import { JwksSource } from './jwks-source.js';

export type ExternalJwtResult =
  | { kind: 'not_mine' }
  | { kind: 'ok'; issuer: JwtIssuerConfig; claims: { username: string; name: string; email: string; roles: string[]; projects: string[]; attributes: Attributes; jti?: string; exp: number } }
  | { kind: 'failed'; reason: 'invalid_token' | 'expired_token' | 'untrusted_issuer' | 'privileged_role'; issuerName?: string; username?: string };

/** External usernames may be e-mail-like; nothing that could confuse headers or paths. */
const EXTERNAL_USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

type KeyInput = Uint8Array | KeyObject | JWTVerifyGetKey;

interface IssuerState {
  config: JwtIssuerConfig;
  key: KeyInput;
  jwks?: JwksSource;
}

export interface ExternalJwtOptions {
  now?: () => number;
  fetch?: typeof fetch;
  logger?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  /** `access.privileged_roles` (default: the schema's default list): a token naming one is rejected or has it dropped. */
  privilegedRoles?: ReadonlySet<string>;
}

export class ExternalJwtVerifier {
  private readonly issuers = new Map<string, IssuerState>();
  private readonly now: () => number;
  private readonly privileged: ReadonlySet<string>;

  constructor(issuers: JwtIssuerConfig[], options: ExternalJwtOptions = {}) {
    this.now = options.now ?? Date.now;
    this.privileged = options.privilegedRoles ?? new Set(DEFAULT_PRIVILEGED_ROLES);
    for (const config of issuers) {
      let state: IssuerState;
      if (config.secret !== '') {
        const secret = new TextEncoder().encode(config.secret);
        if (secret.length < 32) throw new TypeError(`jwt issuer ${config.name}: secret shorter than 32 bytes`);
        state = { config, key: secret };
      } else if (config.public_key_file !== '') {
        state = { config, key: loadKeyFile(config.public_key_file) };
      } else if (config.jwks_url !== '') {
        const jwks = new JwksSource({
          url: config.jwks_url,
          timeoutMs: config.jwks_timeout,
          cooldownMs: config.jwks_cooldown,
          now: this.now,
          ...(options.fetch ? { fetch: options.fetch } : {}),
          onError: (message) => options.logger?.('warn', message, { issuer: config.name }),
        });
        state = { config, key: jwks.getKey, jwks };
      } else {
        throw new TypeError(`jwt issuer ${config.name}: no key source`);
      }
      this.issuers.set(config.issuer, state);
    }
  }

  handles(token: string): boolean {
    const iss = peekIssuer(token);
    return iss !== undefined && this.issuers.has(iss);
  }

  async verify(token: string): Promise<ExternalJwtResult> {
    if (!JWT_SHAPE.test(token)) return { kind: 'not_mine' };

    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return { kind: 'failed', reason: 'invalid_token' };
    }
    if (header.jku !== undefined || header.x5u !== undefined || header.jwk !== undefined || header.x5c !== undefined || header.crit !== undefined) {
      return { kind: 'failed', reason: 'invalid_token' };
    }
    const iss = peekIssuer(token);
    if (iss === undefined) return { kind: 'failed', reason: 'invalid_token' };
    const state = this.issuers.get(iss);
    if (!state) return { kind: 'failed', reason: 'untrusted_issuer' };
    const { config } = state;
    if (typeof header.alg !== 'string' || !(config.algorithms as string[]).includes(header.alg)) return { kind: 'failed', reason: 'invalid_token', issuerName: config.name };

    let payload: JWTPayload;
    try {
      const result = await jwtVerify(token, state.key as Parameters<typeof jwtVerify>[1], {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: config.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: Math.floor(config.clock_tolerance / 1000),
        currentDate: new Date(this.now()),
      });
      payload = result.payload;
    } catch (err) {
      const code = (err as { code?: string }).code;
      return { kind: 'failed', reason: code === 'ERR_JWT_EXPIRED' ? 'expired_token' : 'invalid_token', issuerName: config.name };
    }
    const nowS = this.now() / 1000;
    const exp = payload.exp as number;
    const iat = typeof payload.iat === 'number' ? payload.iat : nowS;
    // Issued in the future (beyond the clock tolerance): the issuer's clock or the token is wrong.
    if (iat > nowS + config.clock_tolerance / 1000) return { kind: 'failed', reason: 'invalid_token', issuerName: config.name };
    if (exp - iat > config.max_token_lifetime / 1000 || exp - nowS > config.max_token_lifetime / 1000 + config.clock_tolerance / 1000) {
      return { kind: 'failed', reason: 'invalid_token', issuerName: config.name };
    }
    const username = claimAt(payload, config.username_claim);
    if (typeof username !== 'string' || !EXTERNAL_USERNAME.test(username)) return { kind: 'failed', reason: 'invalid_token', issuerName: config.name };
    const roles = stringList(claimAt(payload, config.roles_claim));
    const projects = stringList(claimAt(payload, config.projects_claim));
    const name = claimAt(payload, config.name_claim);
    const email = claimAt(payload, config.email_claim);
    if (!roles || !projects || (name !== undefined && typeof name !== 'string') || (email !== undefined && typeof email !== 'string')) {
      return { kind: 'failed', reason: 'invalid_token', issuerName: config.name, username };
    }
    // Control characters are never part of a role, project or token id (and PostgreSQL cannot store NUL).
    if ([...roles, ...projects].some((item) => CONTROL.test(item)) || (typeof payload.jti === 'string' && CONTROL.test(payload.jti))) {
      return { kind: 'failed', reason: 'invalid_token', issuerName: config.name, username };
    }
    const trimmed = roles.map((r) => r.trim()).filter((r) => r !== '');
    const privileged = trimmed.filter((r) => this.privileged.has(r));
    if (privileged.length > 0 && config.privileged_roles === 'reject') return { kind: 'failed', reason: 'privileged_role', issuerName: config.name, username };
    const result: Extract<ExternalJwtResult, { kind: 'ok' }> = {
      kind: 'ok',
      issuer: config,
      claims: {
        username,
        name: typeof name === 'string' ? displayText(name) : '',
        email: typeof email === 'string' ? displayText(email) : '',
        roles: [...new Set(trimmed.filter((r) => !this.privileged.has(r)))],
        projects: [...new Set(projects.map((p) => p.trim()).filter((p) => p !== ''))],
        attributes: claimedAttributes(payload, config.attributes_claims),
        ...(typeof payload.jti === 'string' ? { jti: payload.jti } : {}),
        exp,
      },
    };
    return result;
  }

  close(): void {
    // Nothing held open: JWKS fetches are per refresh.
  }
}

function loadKeyFile(file: string): KeyInput {
  const text = readFileSync(file, 'utf8').trim();
  if (text.startsWith('{')) {
    const json = JSON.parse(text) as JSONWebKeySet | Record<string, unknown>;
    const set: JSONWebKeySet = Array.isArray((json as JSONWebKeySet).keys) ? (json as JSONWebKeySet) : { keys: [json as JSONWebKeySet['keys'][number]] };
    if (set.keys.some((k) => k.kty === 'oct' || 'd' in k)) throw new TypeError(`${file}: only public keys belong in public_key_file`);
    return createLocalJWKSet(set);
  }
  // createPublicKey derives a public key from a private one: a private key here would be the
  // issuer's signing key, lying on the gateway's disk. Refused, like `d` in a JWK above.
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new TypeError(`${file}: holds a private key; only public keys belong in public_key_file`);
  const key = createPublicKey(text);
  if (key.type !== 'public') throw new TypeError(`${file}: not a public key`);
  return key;
}

/**
 * Reads and parses an issuer's `public_key_file` exactly as the verifier does, throwing what it
 * would throw (a read error, or a TypeError naming the file): `config check` runs it before start.
 */
export function checkPublicKeyFile(file: string): void {
  loadKeyFile(file);
}

/** The unverified `iss` (selection only), or undefined when the payload is unreadable. */
function peekIssuer(token: string): string | undefined {
  try {
    const iss = decodeJwt(token).iss;
    return typeof iss === 'string' ? iss : undefined;
  } catch {
    return undefined;
  }
}

/** A claim at a dot path (`realm_access.roles`), own properties only. */
export function claimAt(payload: Record<string, unknown>, path: string): unknown {
  let node: unknown = payload;
  for (const part of path.split('.')) {
    if (!node || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/** SPEC 16: each configured claim read leniently (a string is one value; what does not fit is dropped). */
function claimedAttributes(payload: Record<string, unknown>, claims: Readonly<Record<string, string>>): Attributes {
  const raw: Record<string, unknown> = {};
  for (const [key, path] of Object.entries(claims)) raw[key] = claimAt(payload, path);
  return sourceAttributes(raw);
}

/** A C0 control character or DEL. */
const CONTROL = /[\u0000-\u001f\u007f]/;
/** CONTROL for replace(), which needs the g flag (a /g regex used with test() keeps state: hence two). */
const CONTROLS = new RegExp(CONTROL.source, 'g');

/** A name or email claim as shown and stored: control characters dropped, at most 256 characters. */
function displayText(value: string): string {
  return value.replace(CONTROLS, '').slice(0, 256);
}

/** undefined (absent) → []; an array of strings → itself; anything else → undefined (refuse). */
function stringList(value: unknown): string[] | undefined {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > 256) return undefined;
  for (const item of value) if (typeof item !== 'string' || item.length > 128) return undefined;
  return value as string[];
}

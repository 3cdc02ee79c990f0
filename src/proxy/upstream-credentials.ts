/**
 * Upstream credentials (SPEC 15): the backend's own credential, made by the gateway from the
 * identity for every forwarded request and WebSocket upgrade of a route with `upstream_auth`.
 *   jwt    — minted with the route's key (jose), claims from templates, cached per identity
 *            object until 1 min before exp;
 *   basic  — the first account whose roles the caller holds;
 *   header — the caller's stored per-user value, else the first value/fallback whose roles it holds.
 * No credential is `undefined`: the gateway answers 403 no_upstream_credential, never forwards.
 */
import { createPrivateKey, createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT, importPKCS8, type CryptoKey } from 'jose';
import type { Identity } from '../authn/identity.js';
import type { RouteConfig, UpstreamAccountConfig, UpstreamAuthConfig } from '../config/schema.js';
import { fallbackList, parseTemplate, type TemplatePart } from '../config/upstream-auth.js';
import type { UpstreamCredentialStore } from '../users/upstream-credentials.js';

/** What the upstream receives: a header (lower-case name) or a cookie. */
export type UpstreamCredential = { header: string; value: string } | { cookie: string; value: string };

/** What the client must not send itself on that route: the header (normalised) and the cookie name. */
export interface CredentialSlot {
  header?: string;
  cookie?: string;
}

export type JwtAlgorithm = NonNullable<UpstreamAuthConfig['algorithm']>;

type SigningKey = CryptoKey | Uint8Array;

const REUSE_MARGIN_MS = 60_000;

const onRequest = new WeakMap<object, UpstreamCredential>();

/** Keeps a request's upstream credential for the header rewrite; false when there is none. */
export function setUpstreamCredential(req: object, credential: UpstreamCredential | undefined): boolean {
  if (credential === undefined) return false;
  onRequest.set(req, credential);
  return true;
}

export function upstreamCredentialOf(req: object): UpstreamCredential | undefined {
  return onRequest.get(req);
}
const KEY_RETRY_MS = 30_000;

/**
 * Reads and checks a key file for an algorithm: an Ed25519 key for EdDSA, a P-256 key for ES256,
 * an RSA key of at least 2048 bits for RS256 (PEM or JWK), a secret of at least 32 bytes for HS*.
 * Throws TypeError `<file>: ...` (never quoting the key) or the read error.
 */
export function readUpstreamKey(algorithm: JwtAlgorithm, file: string): KeyObject {
  const bytes = readFileSync(file);
  if (algorithm === 'HS256' || algorithm === 'HS512') {
    const secret = bytes.toString('utf8').replace(/\r?\n$/, '');
    if (Buffer.byteLength(secret, 'utf8') < 32) throw new TypeError(`${file}: an ${algorithm} secret must be at least 32 bytes`);
    return createSecretKey(Buffer.from(secret, 'utf8'));
  }
  const text = bytes.toString('utf8').trim();
  let key: KeyObject;
  try {
    key = text.startsWith('{') ? createPrivateKey({ key: JSON.parse(text) as import('node:crypto').JsonWebKeyInput['key'], format: 'jwk' }) : createPrivateKey(text);
  } catch {
    throw new TypeError(`${file}: not a private key (PEM or JWK)`);
  }
  const type = key.asymmetricKeyType;
  if (algorithm === 'EdDSA' && type !== 'ed25519') throw new TypeError(`${file}: EdDSA needs an Ed25519 private key, this is ${type ?? 'unknown'}`);
  if (algorithm === 'ES256' && (type !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')) throw new TypeError(`${file}: ES256 needs a P-256 private key`);
  if (algorithm === 'RS256' && (type !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048)) throw new TypeError(`${file}: RS256 needs an RSA private key of at least 2048 bits`);
  return key;
}

async function loadSigningKey(algorithm: JwtAlgorithm, file: string): Promise<SigningKey> {
  const key = readUpstreamKey(algorithm, file);
  if (key.type === 'secret') return new Uint8Array(key.export());
  return importPKCS8(key.export({ type: 'pkcs8', format: 'pem' }).toString(), algorithm);
}

/** Whether the caller holds one of an entry's roles ([] matches every caller; admin every list, SPEC 4). */
function holds(entry: { roles: string[] }, identity: Identity | undefined): boolean {
  if (entry.roles.length === 0) return true;
  if (identity === undefined) return false;
  return identity.roles.includes('admin') || entry.roles.some((role) => identity.roles.includes(role));
}

function secretOf(text: string, file: string): string {
  if (text !== '') return text;
  return file === '' ? '' : readFileSync(file, 'utf8').replace(/\r?\n$/, '');
}

interface Attributed {
  attributes?: Record<string, readonly string[]>;
  organisation?: string;
}

/** A placeholder's value: a list for roles, projects and attributes, else text. */
function placeholderValue(part: Exclude<TemplatePart, { literal: string }>, identity: Identity): string | readonly string[] {
  if ('attr' in part) return (identity as Identity & Attributed).attributes?.[part.attr] ?? [];
  switch (part.name) {
    case 'username':
      return identity.username;
    case 'name':
      return identity.name;
    case 'email':
      return identity.email;
    case 'roles':
      return identity.roles;
    case 'projects':
      return identity.projects;
    case 'organisation':
      return (identity as Identity & Attributed).organisation ?? '';
  }
}

type ClaimValue = string | number | boolean | string[];

interface CompiledClaim {
  name: string;
  /** A number or boolean, as configured. */
  constant?: number | boolean;
  /** Templates of a string claim (one) or an array claim (each item). */
  templates: TemplatePart[][];
  array: boolean;
  /** Rendered from {username}, {name}, {email} or {organisation} alone: never a role list. */
  personal: boolean;
}

function compileClaims(claims: UpstreamAuthConfig['claims']): CompiledClaim[] {
  return Object.entries(claims).map(([name, value]) => {
    if (typeof value === 'number' || typeof value === 'boolean') return { name, constant: value, templates: [], array: false, personal: false };
    const texts = Array.isArray(value) ? value : [value];
    const templates = texts.map((text) => {
      const parsed = parseTemplate(text);
      if (!parsed.ok) throw new TypeError(`unknown template {${parsed.unknown}}`);
      return parsed.parts;
    });
    const personal =
      !Array.isArray(value) &&
      templates[0]?.length === 1 &&
      'name' in (templates[0][0] as TemplatePart) &&
      ['username', 'name', 'email', 'organisation'].includes((templates[0][0] as { name: string }).name);
    return { name, templates, array: Array.isArray(value), personal };
  });
}

/** One template rendered: a list when it is a single list placeholder, else text (lists comma-joined). */
function render(parts: TemplatePart[], identity: Identity): string | readonly string[] {
  const only = parts.length === 1 ? parts[0] : undefined;
  if (only !== undefined && !('literal' in only)) return placeholderValue(only, identity);
  let out = '';
  for (const part of parts) {
    if ('literal' in part) out += part.literal;
    else {
      const value = placeholderValue(part, identity);
      out += typeof value === 'string' ? value : value.join(',');
    }
  }
  return out;
}

/**
 * The privileged roles the identity holds from the store: an external identity (source jwt:*)
 * or the anonymous user never holds one (SPEC 3, 4), whatever its record says.
 */
function heldPrivileged(identity: Identity, privileged: ReadonlySet<string>): ReadonlySet<string> {
  if (identity.source.startsWith('jwt:') || identity.method === 'anonymous') return new Set();
  return new Set(identity.roles.filter((role) => privileged.has(role)));
}

export function renderClaims(claims: CompiledClaim[], identity: Identity, privileged: ReadonlySet<string>): Record<string, ClaimValue> {
  const held = heldPrivileged(identity, privileged);
  const allowed = (item: string): boolean => !privileged.has(item.trim()) || held.has(item.trim());
  const out: Record<string, ClaimValue> = {};
  for (const claim of claims) {
    if (claim.constant !== undefined) {
      out[claim.name] = claim.constant;
      continue;
    }
    const rendered = claim.templates.map((parts) => render(parts, identity));
    if (claim.personal) {
      out[claim.name] = rendered[0] as string;
      continue;
    }
    // A role list may come from any template but a personal one: a privileged role not held is dropped.
    if (claim.array || typeof rendered[0] !== 'string') {
      out[claim.name] = rendered.flatMap((value) => (typeof value === 'string' ? [value] : [...value])).filter(allowed);
    } else {
      out[claim.name] = (rendered[0] as string).split(',').filter(allowed).join(',');
    }
  }
  return out;
}

interface CompiledJwt {
  type: 'jwt';
  route: string;
  algorithm: JwtAlgorithm;
  keyFile: string;
  lifetimeMs: number;
  claims: CompiledClaim[];
  deliver: { header: string; scheme: string | undefined } | { cookie: string };
  key: Promise<SigningKey> | undefined;
  keyFailedAt: number;
}

interface CompiledEntries {
  type: 'basic' | 'header';
  route: string;
  header: string;
  /** `blank`: a header value of only spaces (an empty file); `file` names it in the log. */
  entries: Array<{ roles: string[]; value: string; blank: boolean; file: string }>;
  perUser: boolean;
}

type CompiledAuth = CompiledJwt | CompiledEntries;

export interface UpstreamAuthOptions {
  issuer: string;
  privileged: ReadonlySet<string>;
  perUser: UpstreamCredentialStore | undefined;
  logger: (level: 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

export class UpstreamAuth {
  private readonly routes = new Map<string, CompiledAuth>();
  private readonly options: UpstreamAuthOptions;
  private readonly now: () => number;
  /** Minted tokens and per-user values, per identity object and route (identities are reused per user record). */
  private readonly made = new WeakMap<Identity, Map<string, { credential: UpstreamCredential | undefined; until: number }>>();

  constructor(routes: readonly RouteConfig[], options: UpstreamAuthOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    for (const route of routes) {
      const auth = route.upstream_auth;
      if (auth === undefined) continue;
      const compiled = compile(route.name, auth);
      this.routes.set(route.name, compiled);
      if (compiled.type === 'jwt') continue;
      for (const entry of compiled.entries) {
        if (entry.blank) options.logger('error', 'upstream_auth value is empty: its callers get 403 no_upstream_credential', { route: route.name, value_file: entry.file });
      }
    }
  }

  /** The header and cookie the client's copies of must be removed on this route. */
  slotOf(route: string): CredentialSlot | undefined {
    const auth = this.routes.get(route);
    if (auth === undefined) return undefined;
    if (auth.type !== 'jwt') return { header: auth.header };
    return 'cookie' in auth.deliver ? { cookie: auth.deliver.cookie } : { header: auth.deliver.header };
  }

  has(route: string): boolean {
    return this.routes.has(route);
  }

  /**
   * The credential for this caller on this route: undefined when none can be made. Waits only
   * to sign a new token or read a stored per-user value.
   */
  credentialFor(route: string, identity: Identity | undefined): UpstreamCredential | undefined | Promise<UpstreamCredential | undefined> {
    const auth = this.routes.get(route);
    if (auth === undefined) return undefined;
    if (auth.type === 'basic' || (auth.type === 'header' && !auth.perUser)) return this.fromEntries(auth, identity);
    if (identity === undefined) return auth.type === 'header' ? this.fromEntries(auth, identity) : undefined;
    const known = this.made.get(identity)?.get(route);
    if (known !== undefined && known.until > this.now()) return known.credential;
    const making = auth.type === 'jwt' ? this.mint(auth, identity) : this.perUserValue(auth, identity);
    return making.then((made) => {
      if (made.credential !== undefined || made.until > 0) this.remember(identity, route, made.credential, made.until);
      return made.credential;
    });
  }

  private remember(identity: Identity, route: string, credential: UpstreamCredential | undefined, until: number): void {
    let byRoute = this.made.get(identity);
    if (byRoute === undefined) {
      byRoute = new Map();
      this.made.set(identity, byRoute);
    }
    byRoute.set(route, { credential, until });
  }

  private fromEntries(auth: CompiledEntries, identity: Identity | undefined): UpstreamCredential | undefined {
    const entry = auth.entries.find((candidate) => holds(candidate, identity));
    // A blank value is no credential (a backend may read it as "none": GMT's DEFAULT user), never a later entry.
    return entry === undefined || entry.blank ? undefined : { header: auth.header, value: entry.value };
  }

  private async perUserValue(auth: CompiledEntries, identity: Identity): Promise<{ credential: UpstreamCredential | undefined; until: number }> {
    const stored = identity.method === 'anonymous' ? undefined : await this.options.perUser?.value(identity.username, auth.route);
    // Kept for this identity object only: a PUT or DELETE changes the user record, so a new identity.
    const until = Object.isFrozen(identity) ? this.now() + 60_000 : 0;
    if (stored !== undefined) return { credential: { header: auth.header, value: stored }, until };
    return { credential: this.fromEntries(auth, identity), until };
  }

  private async mint(auth: CompiledJwt, identity: Identity): Promise<{ credential: UpstreamCredential | undefined; until: number }> {
    const key = await this.keyOf(auth);
    if (key === undefined) return { credential: undefined, until: 0 };
    const nowMs = this.now();
    const iat = Math.floor(nowMs / 1000);
    const exp = iat + Math.floor(auth.lifetimeMs / 1000);
    const claims = { iss: this.options.issuer, ...renderClaims(auth.claims, identity, this.options.privileged) };
    const token = await new SignJWT(claims).setProtectedHeader({ alg: auth.algorithm, typ: 'JWT' }).setIssuedAt(iat).setExpirationTime(exp).sign(key);
    const value = 'cookie' in auth.deliver ? token : auth.deliver.scheme !== undefined ? `${auth.deliver.scheme} ${token}` : token;
    const credential: UpstreamCredential = 'cookie' in auth.deliver ? { cookie: auth.deliver.cookie, value } : { header: auth.deliver.header, value };
    return { credential, until: exp * 1000 - REUSE_MARGIN_MS };
  }

  /** The route's signing key, read once; a key that cannot be read is retried after 30 s (403 meanwhile). */
  private async keyOf(auth: CompiledJwt): Promise<SigningKey | undefined> {
    if (auth.key === undefined) {
      if (auth.keyFailedAt !== 0 && this.now() - auth.keyFailedAt < KEY_RETRY_MS) return undefined;
      auth.key = loadSigningKey(auth.algorithm, auth.keyFile);
    }
    try {
      return await auth.key;
    } catch (err) {
      auth.key = undefined;
      auth.keyFailedAt = this.now();
      const code = (err as NodeJS.ErrnoException).code;
      this.options.logger('error', 'upstream_auth key cannot be used', { route: auth.route, key_file: auth.keyFile, reason: typeof code === 'string' ? code : (err as Error).message });
      return undefined;
    }
  }
}

function compile(route: string, auth: UpstreamAuthConfig): CompiledAuth {
  if (auth.type === 'jwt') {
    const deliver = auth.deliver?.cookie !== undefined ? { cookie: auth.deliver.cookie } : { header: (auth.deliver?.header ?? 'Authorization').toLowerCase(), scheme: auth.deliver?.scheme };
    return { type: 'jwt', route, algorithm: auth.algorithm ?? 'EdDSA', keyFile: auth.key_file, lifetimeMs: auth.lifetime, claims: compileClaims(auth.claims), deliver, key: undefined, keyFailedAt: 0 };
  }
  if (auth.type === 'basic') {
    const entries = auth.accounts.map((account: UpstreamAccountConfig) => ({
      roles: account.roles,
      value: `Basic ${Buffer.from(`${account.username}:${secretOf(account.password, account.password_file)}`, 'utf8').toString('base64')}`,
      blank: false,
      file: account.password_file,
    }));
    return { type: 'basic', route, header: 'authorization', entries, perUser: false };
  }
  const list = auth.per_user ? fallbackList(auth) : auth.values;
  const entries = list.map((entry) => {
    const value = secretOf(entry.value, entry.value_file);
    return { roles: entry.roles, value, blank: value.trim() === '', file: entry.value_file };
  });
  return { type: 'header', route, header: (auth.name ?? '').toLowerCase(), entries, perUser: auth.per_user };
}

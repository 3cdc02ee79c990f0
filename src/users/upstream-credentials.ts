/**
 * Per-user upstream credentials (SPEC 15): a backend credential of one user for one route,
 * stored encrypted with AES-256-GCM under `server.secret_key`, bound to the user and route (the
 * additional data), never returned by the API and never logged. Deleted with the user.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PortcullisError } from '../errors/errors.js';
import type { SealedCredential, Store } from '../store/types.js';
import { userKey } from '../store/types.js';

/** Longest stored value: a token, a password, a header value (bytes of UTF-8). */
export const MAX_CREDENTIAL_BYTES = 4096;

function additionalData(username: string, route: string): Buffer {
  return Buffer.from(`portcullis-upstream-credential\0${userKey(username)}\0${route}`, 'utf8');
}

export function sealCredential(key: Buffer, username: string, route: string, value: string): SealedCredential {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData(username, route));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return { ciphertext: ciphertext.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64') };
}

/** The plain value, or undefined when it does not decrypt (another key, another user or route). */
export function openCredential(key: Buffer, username: string, route: string, sealed: SealedCredential): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
    decipher.setAAD(additionalData(username, route));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(sealed.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A value a header can carry: printable ASCII (no CR/LF), 1..4096 bytes, no outer spaces. */
export function credentialValueProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '') return 'required: a non-empty string';
  if (Buffer.byteLength(value, 'utf8') > MAX_CREDENTIAL_BYTES) return `at most ${MAX_CREDENTIAL_BYTES} bytes`;
  // eslint-disable-next-line no-control-regex
  if (!/^[\x20-\x7e]+$/.test(value)) return 'printable ASCII only (it is sent as a header value)';
  // A header value loses its outer spaces; a blank one is a missing credential (GMT's DEFAULT user).
  if (value.trim() === '') return 'required: not only spaces';
  if (value !== value.trim()) return 'no leading or trailing spaces (a header value drops them)';
  return undefined;
}

export class UpstreamCredentialStore {
  private readonly store: Store;
  private readonly key: Buffer | undefined;
  /** Routes whose upstream_auth uses per_user: the only names a credential may be set for. */
  private readonly routes: ReadonlySet<string>;
  private readonly now: () => number;

  constructor(store: Store, key: Buffer | undefined, perUserRoutes: Iterable<string>, now: () => number = Date.now) {
    this.store = store;
    this.key = key;
    this.routes = new Set(perUserRoutes);
    this.now = now;
  }

  /** Whether `route` takes per-user credentials. */
  accepts(route: string): boolean {
    return this.key !== undefined && this.routes.has(route);
  }

  routeNames(): string[] {
    return [...this.routes];
  }

  async set(username: string, route: string, value: string): Promise<void> {
    if (this.key === undefined || !this.routes.has(route)) throw new PortcullisError('not_found', 'No route with per-user upstream credentials of that name');
    const problem = credentialValueProblem(value);
    if (problem !== undefined) throw new PortcullisError('validation_failed', `value: ${problem}`, { fields: { value: problem } });
    const stored = await this.store.putUpstreamCredential(username, route, sealCredential(this.key, username, route, value), this.now());
    if (!stored) throw new PortcullisError('not_found', 'No such user');
  }

  async delete(username: string, route: string): Promise<boolean> {
    if (!this.routes.has(route)) throw new PortcullisError('not_found', 'No route with per-user upstream credentials of that name');
    return this.store.deleteUpstreamCredential(username, route);
  }

  /** The routes the user has a credential for (never the values). */
  async routesOf(username: string): Promise<string[]> {
    return (await this.store.listUpstreamCredentialRoutes(username)).filter((route) => this.routes.has(route));
  }

  /** The plain value for forwarding, or undefined. */
  async value(username: string, route: string): Promise<string | undefined> {
    if (this.key === undefined) return undefined;
    const sealed = await this.store.getUpstreamCredential(username, route);
    return sealed === undefined ? undefined : openCredential(this.key, username, route, sealed);
  }
}

/**
 * Keys of one external issuer published at a JWKS URL: fetched with a timeout, cached,
 * refreshed when a token names an unknown `kid` (at most once per cooldown), and the last
 * good key set is kept when the endpoint fails. Keys never come from the token itself.
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';

export interface JwksSourceOptions {
  url: string;
  timeoutMs: number;
  cooldownMs: number;
  now?: () => number;
  fetch?: typeof fetch;
  onError?: (message: string) => void;
}

export class JwksSource {
  private readonly options: JwksSourceOptions;
  private readonly now: () => number;
  private keys: JSONWebKeySet | undefined;
  private local: JWTVerifyGetKey | undefined;
  private lastFetch = 0;
  private inflight: Promise<void> | undefined;

  constructor(options: JwksSourceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The key resolver handed to jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.local || (header.kid !== undefined && !this.hasKid(header.kid))) {
      if (!this.local || this.now() - this.lastFetch >= this.options.cooldownMs) await this.refresh();
    }
    if (!this.local) throw new Error('no keys available for this issuer');
    return this.local(header, token);
  };

  private hasKid(kid: string): boolean {
    return this.keys?.keys.some((k) => k.kid === kid) ?? false;
  }

  refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.lastFetch = this.now();
    try {
      const response = await (this.options.fetch ?? fetch)(this.options.url, {
        signal: AbortSignal.timeout(this.options.timeoutMs),
        redirect: 'error',
        headers: { accept: 'application/json' },
      });
      if (!response.ok) throw new Error(`JWKS endpoint answered ${response.status}`);
      const text = await response.text();
      if (text.length > 1_000_000) throw new Error('JWKS document too large');
      const body = JSON.parse(text) as unknown;
      if (!body || typeof body !== 'object' || !Array.isArray((body as JSONWebKeySet).keys)) throw new Error('not a JWKS document');
      const keys = (body as JSONWebKeySet).keys.filter((k) => k && typeof k === 'object' && k.kty !== 'oct');
      this.keys = { keys };
      this.local = createLocalJWKSet(this.keys);
    } catch (err) {
      this.options.onError?.(`JWKS fetch failed, keeping the last good keys: ${(err as Error).message}`);
    }
  }
}

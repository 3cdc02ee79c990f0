/**
 * Keys of one external issuer published at a JWKS URL: fetched with a timeout, cached,
 * refreshed when a token names an unknown `kid` (at most once per cooldown), and the last
 * good key set is kept when the endpoint fails. Keys never come from the token itself.
 *
 * Before any key set has been loaded, the first token fetches at once; after a failed fetch
 * the next one waits a backoff (1 s, doubling up to the cooldown), and tokens meanwhile are
 * refused at once as "issuer keys unavailable": a flood of tokens naming the issuer never
 * turns into a flood of fetches (each a warning and up to a timeout's wait) while it is down.
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

/** The wait after the first failed fetch while no keys are loaded; doubled after each further failure. */
export const JWKS_FIRST_BACKOFF_MS = 1000;

export class JwksSource {
  private readonly options: JwksSourceOptions;
  private readonly now: () => number;
  private keys: JSONWebKeySet | undefined;
  private local: JWTVerifyGetKey | undefined;
  private lastFetch = 0;
  /** Fetches failed in a row, reset by a good one. */
  private failures = 0;
  /** With no keys loaded, no fetch starts before this time (0: the first fetch starts at once). */
  private retryAt = 0;
  private inflight: Promise<void> | undefined;

  constructor(options: JwksSourceOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** The key resolver handed to jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.local || (header.kid !== undefined && !this.hasKid(header.kid))) {
      const due = this.local ? this.now() - this.lastFetch >= this.options.cooldownMs : this.now() >= this.retryAt;
      if (this.inflight || due) await this.refresh();
    }
    // Fails closed: the token is refused like any token whose key cannot be found.
    if (!this.local) throw new Error('issuer keys unavailable');
    return this.local(header, token);
  };

  /** The wait after the latest of `failures` failed fetches in a row: 1 s, doubling up to the cooldown. */
  private backoff(): number {
    return Math.min(JWKS_FIRST_BACKOFF_MS * 2 ** Math.min(this.failures - 1, 30), this.options.cooldownMs);
  }

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
      this.failures = 0;
    } catch (err) {
      this.failures++;
      // Counted from the failure, not the start: a fetch that timed out has used up its wait.
      this.retryAt = this.now() + this.backoff();
      this.options.onError?.(
        this.local
          ? `JWKS fetch failed, keeping the last good keys: ${(err as Error).message}`
          : `JWKS fetch failed and no keys are loaded; tokens of this issuer are refused without a fetch for ${this.backoff()} ms: ${(err as Error).message}`,
      );
    }
  }
}

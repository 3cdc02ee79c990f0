/**
 * The per-client bound on failure events that reach the store and the webhooks.
 *
 * A made-up credential (`Bearer x`, a random `pcl_` token) costs the client one request and
 * the gateway one UserLoginFailed: without a bound an anonymous client writes a row (and a
 * webhook delivery) per request, ~2,000 a second, kept for events.retention. So each client
 * address gets a fixed window of WINDOW_MS starting at its first failure; the first
 * FAILURES_PER_WINDOW failures in it are stored and sent as usual, the rest are only logged and
 * counted, and when the window ends one `EventsSuppressed` summary says how many were held back.
 *
 * 30 a minute: a person mistyping a password, a script retrying with a stale token, a whole
 * office behind one NAT address, all stay well under it and keep one row per failure; a
 * guessing or flooding client is visible in full within its first half-minute of rows and then
 * costs one row a minute. IPv6 clients are counted per /64 (the smallest prefix a host is
 * usually given): one host can take a new address inside its /64 for every request.
 *
 * The windows live in an LRU cache of at most TRACKED_CLIENTS: a client pushed out with failures
 * still held back gets its summary at once, so no count is lost.
 */
import { LRUCache } from 'lru-cache';
import { clientKey } from '../http/client-ip.js';

/** Failure events per client and window that are stored and sent. */
export const FAILURES_PER_WINDOW = 30;
/** One window per client, starting at its first failure. */
export const WINDOW_MS = 60_000;
/** Client windows kept at most (least recently used first out): ~100 bytes each. */
export const TRACKED_CLIENTS = 10_000;

/** Failures of one client that were logged but neither stored nor sent. */
export interface Suppression {
  /** The client address (an IPv6 client as its /64: `2001:db8:1:2::/64`). */
  ip: string;
  count: number;
  /** Times (ms) of the first and the last failure held back. */
  since: number;
  until: number;
}

interface Window {
  start: number;
  admitted: number;
  suppressed: number;
  since: number;
  until: number;
}

export interface FailureLimiterOptions {
  limit?: number;
  windowMs?: number;
  maxClients?: number;
}

export class FailureLimiter {
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly windows: LRUCache<string, Window>;
  /** Summaries of the windows pushed out of `windows` by the current admit (filled by dispose). */
  private readonly pushedOut: Suppression[] = [];
  /** Clients whose window holds failures back (those a sweep has to look at). */
  private readonly holding = new Set<string>();

  constructor(options: FailureLimiterOptions = {}) {
    this.limit = options.limit ?? FAILURES_PER_WINDOW;
    this.windowMs = options.windowMs ?? WINDOW_MS;
    const maxClients = options.maxClients ?? TRACKED_CLIENTS;
    if (!Number.isInteger(this.limit) || this.limit < 0) throw new TypeError('limit must be an integer of at least 0');
    if (!(this.windowMs > 0)) throw new TypeError('windowMs must be positive');
    if (!Number.isInteger(maxClients) || maxClients < 1) throw new TypeError('maxClients must be a positive integer');
    this.windows = new LRUCache<string, Window>({
      max: maxClients,
      // Only a client pushed out for another is summed up here; a window replaced or deleted
      // by this class was summed up by it (close) already.
      dispose: (window, key, reason) => {
        if (reason === 'evict') this.close(key, window, this.pushedOut);
      },
    });
  }

  /**
   * Counts one failure of `address` at `now`: true when it may be stored and sent. Summaries of
   * windows that ended (this client's previous one, a client pushed out of the map) go to `ended`.
   */
  admit(address: string, now: number, ended: Suppression[]): boolean {
    const key = clientKey(address);
    // get() makes the client the most recently used.
    let window = this.windows.get(key);
    if (window !== undefined && now - window.start >= this.windowMs) {
      this.close(key, window, ended);
      window = undefined;
    }
    if (window === undefined) {
      window = { start: now, admitted: 0, suppressed: 0, since: 0, until: 0 };
      // A new client pushes out the least recently used one when the cache is full.
      this.windows.set(key, window);
      ended.push(...this.pushedOut.splice(0));
    }
    if (window.admitted < this.limit) {
      window.admitted++;
      return true;
    }
    if (window.suppressed === 0) {
      window.since = now;
      this.holding.add(key);
    }
    window.suppressed++;
    window.until = now;
    return false;
  }

  /** Summaries of the windows that have ended by `now` with failures held back. */
  ended(now: number): Suppression[] {
    const out: Suppression[] = [];
    for (const key of this.holding) {
      const window = this.windows.peek(key);
      if (window !== undefined && now - window.start >= this.windowMs) {
        this.windows.delete(key);
        this.close(key, window, out);
      }
    }
    return out;
  }

  /**
   * Summaries of everything held back so far, ended windows or not (shutdown). The windows stay:
   * a client still inside its window keeps being bounded.
   */
  flush(): Suppression[] {
    const out: Suppression[] = [];
    for (const key of this.holding) {
      const window = this.windows.peek(key);
      if (window !== undefined) this.close(key, window, out);
    }
    return out;
  }

  /** Whether any window holds failures back (a sweep has something to do). */
  get holdingBack(): boolean {
    return this.holding.size > 0;
  }

  /** Windows tracked (tests). */
  get size(): number {
    return this.windows.size;
  }

  private close(key: string, window: Window, out: Suppression[]): void {
    this.holding.delete(key);
    if (window.suppressed === 0) return;
    out.push({ ip: key, count: window.suppressed, since: window.since, until: window.until });
    window.suppressed = 0;
  }
}

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
 * The windows live in a map in least-recently-used order, at most TRACKED_CLIENTS of them: a
 * client pushed out with failures still held back gets its summary at once, so no count is lost.
 */
import { isIP } from 'node:net';

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
  private readonly maxClients: number;
  /** Insertion order is use order: the first key is the least recently used. */
  private readonly windows = new Map<string, Window>();
  /** Clients whose window holds failures back (those a sweep has to look at). */
  private readonly holding = new Set<string>();

  constructor(options: FailureLimiterOptions = {}) {
    this.limit = options.limit ?? FAILURES_PER_WINDOW;
    this.windowMs = options.windowMs ?? WINDOW_MS;
    this.maxClients = options.maxClients ?? TRACKED_CLIENTS;
    if (!Number.isInteger(this.limit) || this.limit < 0) throw new TypeError('limit must be an integer of at least 0');
    if (!(this.windowMs > 0)) throw new TypeError('windowMs must be positive');
    if (!Number.isInteger(this.maxClients) || this.maxClients < 1) throw new TypeError('maxClients must be a positive integer');
  }

  /**
   * Counts one failure of `address` at `now`: true when it may be stored and sent. Summaries of
   * windows that ended (this client's previous one, a client pushed out of the map) go to `ended`.
   */
  admit(address: string, now: number, ended: Suppression[]): boolean {
    const key = clientKey(address);
    let window = this.windows.get(key);
    if (window !== undefined) {
      this.windows.delete(key);
      if (now - window.start >= this.windowMs) {
        this.close(key, window, ended);
        window = undefined;
      }
    }
    if (window === undefined) {
      window = { start: now, admitted: 0, suppressed: 0, since: 0, until: 0 };
      while (this.windows.size >= this.maxClients) {
        const [oldestKey, oldest] = this.windows.entries().next().value as [string, Window];
        this.windows.delete(oldestKey);
        this.close(oldestKey, oldest, ended);
      }
    }
    this.windows.set(key, window);
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
      const window = this.windows.get(key);
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
      const window = this.windows.get(key);
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

/** The unit a client is counted in: its address, or for IPv6 its /64. */
export function clientKey(address: string): string {
  const bare = address.split('%')[0] as string;
  if (isIP(bare) !== 6) return address;
  if (/^::ffff:/i.test(bare) && isIP(bare.slice(7)) === 4) return bare.slice(7);
  const halves = bare.split('::');
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length > 1 && halves[1] !== '' ? (halves[1] as string).split(':') : [];
  // An embedded IPv4 tail (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is two groups.
  const last = tail.length > 0 ? tail : head;
  if (last.length > 0 && (last[last.length - 1] as string).includes('.')) last.splice(last.length - 1, 1, '0', '0');
  const groups = halves.length > 1 ? [...head, ...new Array<string>(8 - head.length - tail.length).fill('0'), ...tail] : head;
  return `${groups
    .slice(0, 4)
    .map((group) => (parseInt(group, 16) || 0).toString(16))
    .join(':')}::/64`;
}

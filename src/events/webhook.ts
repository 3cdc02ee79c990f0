/**
 * Webhook sink: POSTs each event as JSON, signed with HMAC-SHA256 of the body in
 * `X-Portcullis-Signature: sha256=<hex>`, retried with exponential backoff. Delivery runs
 * in the background; a slow or dead receiver never blocks a request, and never holds more than
 * DELIVERIES_AT_ONCE connections or QUEUE_LIMIT waiting events: an unauthenticated client can
 * make login-failure events as fast as it likes, and a receiver that never answers must not turn
 * them into thousands of sockets and megabytes of heap. Events past the limit are dropped and
 * counted in the log and in `portcullis_events_dropped_total` (they are still in the event log
 * and the store).
 *
 * A full queue gives way by what an event is worth to the receiver: failures are what an
 * anonymous client can make at will, so an event of any other kind takes the place of the oldest
 * queued UserLoginFailed (or, with none queued, the oldest EventsSuppressed: a summary of failures
 * is still worth less than a login or an admin's change); an EventsSuppressed takes the place of
 * the oldest UserLoginFailed; a new UserLoginFailed is dropped. With nothing to give way, the new
 * event is dropped as before: a queue of real events is not reordered.
 */
import { createHmac } from 'node:crypto';
import type { WebhookConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { DropCounter, PortcullisEvent } from './types.js';

/** Deliveries in flight per webhook. */
export const DELIVERIES_AT_ONCE = 4;
/** Events waiting per webhook beyond those in flight. */
export const QUEUE_LIMIT = 1000;

interface Queued {
  event: PortcullisEvent;
  done: () => void;
}

/** Queued events that may give way to a newer one, least worth first; an absent type never does. */
const EVICTABLE: Readonly<Record<string, number>> = { UserLoginFailed: 0, EventsSuppressed: 1 };

export class WebhookSink {
  private readonly config: WebhookConfig;
  private readonly logger: Logger;
  private readonly fetchImpl: typeof fetch;
  private readonly baseDelayMs: number;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly queue: Queued[] = [];
  private active = 0;
  private dropped = 0;
  /** Counts the events this sink drops (its queue full). */
  private readonly onDrop: DropCounter | undefined;

  constructor(config: WebhookConfig, options: { logger: Logger; fetch?: typeof fetch; baseDelayMs?: number; onDrop?: DropCounter }) {
    this.config = config;
    this.logger = options.logger;
    this.fetchImpl = options.fetch ?? fetch;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.onDrop = options.onDrop;
  }

  wants(type: string): boolean {
    return this.config.types.length === 0 || this.config.types.includes(type);
  }

  /** Queues the event; the promise settles when it was delivered, given up on, or dropped. */
  deliver(event: PortcullisEvent): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.queue.length >= QUEUE_LIMIT) {
      const evicted = this.evictFor(event);
      if (evicted === undefined) {
        this.drop(event);
        return Promise.resolve();
      }
      this.drop(evicted.event);
      evicted.done();
    }
    return new Promise<void>((done) => {
      this.queue.push({ event, done });
      this.pump();
    });
  }

  /** Takes out the oldest queued event worth less than `event`, if there is one. */
  private evictFor(event: PortcullisEvent): Queued | undefined {
    const worth = EVICTABLE[event.event] ?? Infinity;
    for (let rank = 0; rank < worth && rank < 2; rank++) {
      const index = this.queue.findIndex((queued) => EVICTABLE[queued.event.event] === rank);
      if (index !== -1) return this.queue.splice(index, 1)[0];
    }
    return undefined;
  }

  private drop(event: PortcullisEvent): void {
    this.dropped++;
    this.onDrop?.(event.event, 'webhook_queue_full');
    // The first drop and then every thousandth: a flood must not flood the log as well.
    if (this.dropped % 1000 === 1) this.logger.warn('webhook queue full: events dropped', { url: redact(this.config.url), dropped: this.dropped, event: event.event });
  }

  private pump(): void {
    while (this.active < DELIVERIES_AT_ONCE && this.queue.length > 0) {
      const next = this.queue.shift() as Queued;
      if (this.closed) {
        next.done();
        continue;
      }
      this.active++;
      void this.send(next.event).finally(() => {
        this.active--;
        next.done();
        this.pump();
      });
    }
  }

  private async send(event: PortcullisEvent): Promise<void> {
    const body = JSON.stringify(event);
    const signature = 'sha256=' + createHmac('sha256', this.config.secret).update(body).digest('hex');
    // What the last attempt ran into, for the one log line: the error's class (and the system
    // error code under it) or the status, never its message, which can quote the URL.
    let failure: Record<string, string | number> = {};
    for (let attempt = 1; attempt <= this.config.max_attempts && !this.closed; attempt++) {
      try {
        const response = await this.fetchImpl(this.config.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-portcullis-signature': signature, 'user-agent': 'portcullis-webhook' },
          body,
          signal: AbortSignal.timeout(this.config.timeout),
          redirect: 'manual',
        });
        await response.body?.cancel();
        if (response.ok) return;
        if (response.status >= 400 && response.status < 500 && response.status !== 429) {
          this.logger.warn('webhook refused event', { url: redact(this.config.url), status: response.status, event: event.event });
          return;
        }
        failure = { status: response.status };
      } catch (err) {
        failure = errorClass(err);
      }
      if (attempt < this.config.max_attempts) await this.sleep(this.baseDelayMs * 2 ** (attempt - 1));
    }
    if (!this.closed) this.logger.warn('webhook delivery failed', { url: redact(this.config.url), event: event.event, ...failure });
  }

  close(): void {
    this.closed = true;
    for (const waiting of this.queue.splice(0)) waiting.done();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      timer.unref();
      this.timers.add(timer);
    });
  }
}

/**
 * `error`: the class of what a delivery threw (`TypeError` for a refused request or a network
 * failure, `TimeoutError` past the timeout), and `code`: the system error under it
 * (`ECONNREFUSED`). Never the message: fetch quotes the whole URL, user-info included.
 */
function errorClass(err: unknown): Record<string, string> {
  const out: Record<string, string> = { error: err instanceof Error ? err.name : typeof err };
  const code = err instanceof Error ? ((err.cause as { code?: unknown } | undefined)?.code ?? (err as { code?: unknown }).code) : undefined;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) out.code = code;
  return out;
}

/** Only the scheme and host of a URL for the log: paths carry secrets too (Slack-style hooks). */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * The event bus: one call emits an event to every sink (log line, store row, webhooks).
 * Sinks never block the request: store and webhook delivery run in the background and
 * their failures are logged, never thrown at the caller.
 *
 * UserLoginFailed is the one event an anonymous client can cause at will, so per client
 * address only the first few a minute reach the store and the webhooks (failure-limiter.ts);
 * the rest are logged and counted, and summed up in one `EventsSuppressed` when the client's
 * window ends (found by a sweep, or by the client's next failure) or at shutdown (drain).
 * Successful logins, admin events and failures with no client address are never held back.
 */
import { sanitiseUsername, type Logger } from '../observability/logger.js';
import { settleWithin } from '../observability/settle-within.js';
import { FailureLimiter, type FailureLimiterOptions, type Suppression } from './failure-limiter.js';
import type { DropCounter, EventType, PortcullisEvent, RequestContext } from './types.js';

/** Where events are kept (the store implements it; events sit below the store in the layers). */
export interface EventStore {
  insertEvent(event: { type: string; time: number; username: string | null; data: Record<string, unknown> }): Promise<void>;
}
import type { WebhookSink } from './webhook.js';

/** Field names that must never appear in an event, whatever a caller passes. */
const FORBIDDEN_FIELDS = /pass(word)?|secret|token$|^token|cookie|hash|authorization/i;
/** Names FORBIDDEN_FIELDS would catch that carry no secret: a token's id is what an audit needs. */
const ALLOWED_FIELDS = new Set(['token_id']);
/** What every event has of its own: a field of the same name would overwrite its type, time or user. */
const RESERVED_FIELDS = new Set(['event', 'time', 'username']);

export interface EventBusOptions {
  logger: Logger;
  store?: EventStore;
  webhooks?: WebhookSink[];
  now?: () => number;
  /** The per-client bound on failure events (defaults: 30 a minute, 10,000 clients tracked). */
  failureLimit?: FailureLimiterOptions;
  /** How often ended windows are looked for while failures are held back. */
  sweepMs?: number;
  /** Counts the failure events held back (suppressed); each WebhookSink is given its own counter. */
  onDrop?: DropCounter;
}

/** How often a sweep looks for ended windows: a summary is at most this late. */
const SWEEP_MS = 5_000;

export class EventBus {
  private readonly logger: Logger;
  private readonly store: EventStore | undefined;
  private readonly webhooks: WebhookSink[];
  private readonly now: () => number;
  private readonly pending = new Set<Promise<void>>();
  private readonly listeners = new Set<(event: PortcullisEvent) => void>();
  private readonly limiter: FailureLimiter;
  private readonly sweepMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly onDrop: DropCounter | undefined;

  constructor(options: EventBusOptions) {
    this.logger = options.logger;
    this.store = options.store;
    this.webhooks = options.webhooks ?? [];
    this.now = options.now ?? Date.now;
    this.limiter = new FailureLimiter(options.failureLimit);
    this.sweepMs = options.sweepMs ?? SWEEP_MS;
    this.onDrop = options.onDrop;
  }

  emit(type: EventType, username: unknown, fields: Record<string, unknown> = {}, context?: RequestContext): PortcullisEvent {
    const time = this.now();
    const event: PortcullisEvent = { event: type, time: new Date(time).toISOString(), username: sanitiseUsername(username) };
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || RESERVED_FIELDS.has(key) || (FORBIDDEN_FIELDS.test(key) && !ALLOWED_FIELDS.has(key))) continue;
      event[key] = value;
    }
    if (context) {
      event.ip = context.ip;
      event.user_agent = context.user_agent.slice(0, 512);
      event.request_id = context.request_id;
    }
    this.logger.line(event);
    for (const listener of this.listeners) listener(event);
    if (type === 'AccessDenied') return event; // log and metrics only (SPEC 10)
    if (type === 'UserLoginFailed' && typeof event.ip === 'string' && event.ip !== '') {
      const ended: Suppression[] = [];
      const admitted = this.limiter.admit(event.ip, time, ended);
      // The summary of the client's previous window comes before this failure, as it happened.
      for (const suppression of ended) this.summarise(suppression);
      if (!admitted) {
        this.onDrop?.(type, 'suppressed');
        this.sweepSoon();
        return event;
      }
    }
    this.dispatch(type, time, event);
    return event;
  }

  /** Emits the summaries of the windows that have ended (the sweep; tests with a clock call it). */
  flushSuppressed(): void {
    for (const suppression of this.limiter.ended(this.now())) this.summarise(suppression);
    if (!this.limiter.holdingBack) this.stopSweeping();
  }

  private dispatch(type: EventType, time: number, event: PortcullisEvent): void {
    if (this.store) {
      const { event: _type, time: _time, username: name, ...data } = event;
      this.track(
        this.store.insertEvent({ type, time, username: name === '' ? null : name, data }).catch((err: unknown) => {
          this.logger.error('event not stored', { event: type, err: err as Error });
        }),
      );
    }
    for (const hook of this.webhooks) if (hook.wants(type)) this.track(hook.deliver(event));
  }

  private summarise(suppression: Suppression): void {
    this.emit('EventsSuppressed', '', {
      ip: suppression.ip,
      suppressed_event: 'UserLoginFailed',
      count: suppression.count,
      since: new Date(suppression.since).toISOString(),
      until: new Date(suppression.until).toISOString(),
    });
  }

  private sweepSoon(): void {
    if (this.sweeper) return;
    this.sweeper = setInterval(() => this.flushSuppressed(), this.sweepMs);
    this.sweeper.unref();
  }

  private stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  /** Test and CLI hook: observe events as they are emitted. */
  subscribe(listener: (event: PortcullisEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Waits for background deliveries (graceful shutdown), bounded by `timeoutMs`. Failures held
   * back so far are summed up first, so that no count is lost with the process.
   */
  async drain(timeoutMs = 5000): Promise<void> {
    for (const suppression of this.limiter.flush()) this.summarise(suppression);
    if (!this.limiter.holdingBack) this.stopSweeping();
    if (this.pending.size === 0) return;
    await settleWithin(Promise.allSettled([...this.pending]), timeoutMs);
  }

  close(): void {
    this.stopSweeping();
    for (const hook of this.webhooks) hook.close();
  }

  private track(promise: Promise<void>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }
}

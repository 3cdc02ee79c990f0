/**
 * The event bus: one call emits an event to every sink (log line, store row, webhooks).
 * Sinks never block the request: store and webhook delivery run in the background and
 * their failures are logged, never thrown at the caller.
 */
import { sanitiseUsername, type Logger } from '../observability/logger.js';
import type { Store } from '../store/types.js';
import type { EventType, PortcullisEvent, RequestContext } from './types.js';
import type { WebhookSink } from './webhook.js';

/** Field names that must never appear in an event, whatever a caller passes. */
const FORBIDDEN_FIELDS = /pass(word)?|secret|token$|^token|cookie|hash|authorization/i;
/** Names FORBIDDEN_FIELDS would catch that carry no secret: a token's id is what an audit needs. */
const ALLOWED_FIELDS = new Set(['token_id']);

export interface EventBusOptions {
  logger: Logger;
  store?: Store;
  webhooks?: WebhookSink[];
  now?: () => number;
}

export class EventBus {
  private readonly logger: Logger;
  private readonly store: Store | undefined;
  private readonly webhooks: WebhookSink[];
  private readonly now: () => number;
  private readonly pending = new Set<Promise<void>>();
  private readonly listeners = new Set<(event: PortcullisEvent) => void>();

  constructor(options: EventBusOptions) {
    this.logger = options.logger;
    this.store = options.store;
    this.webhooks = options.webhooks ?? [];
    this.now = options.now ?? Date.now;
  }

  emit(type: EventType, username: unknown, fields: Record<string, unknown> = {}, context?: RequestContext): PortcullisEvent {
    const time = this.now();
    const event: PortcullisEvent = { event: type, time: new Date(time).toISOString(), username: sanitiseUsername(username) };
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined || (FORBIDDEN_FIELDS.test(key) && !ALLOWED_FIELDS.has(key))) continue;
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
    if (this.store) {
      const { event: _type, time: _time, username: name, ...data } = event;
      this.track(
        this.store.insertEvent({ type, time, username: name === '' ? null : name, data }).catch((err: unknown) => {
          this.logger.error('event not stored', { event: type, err: err as Error });
        }),
      );
    }
    for (const hook of this.webhooks) if (hook.wants(type)) this.track(hook.deliver(event));
    return event;
  }

  /** Test and CLI hook: observe events as they are emitted. */
  subscribe(listener: (event: PortcullisEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for background deliveries (graceful shutdown), bounded by `timeoutMs`. */
  async drain(timeoutMs = 5000): Promise<void> {
    if (this.pending.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.pending]).then(() => undefined), timeout]);
    if (timer) clearTimeout(timer);
  }

  close(): void {
    for (const hook of this.webhooks) hook.close();
  }

  private track(promise: Promise<void>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }
}

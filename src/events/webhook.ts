/**
 * Webhook sink: POSTs each event as JSON, signed with HMAC-SHA256 of the body in
 * `X-Portcullis-Signature: sha256=<hex>`, retried with exponential backoff. Delivery runs
 * in the background; a slow or dead receiver never blocks a request.
 */
import { createHmac } from 'node:crypto';
import type { WebhookConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { PortcullisEvent } from './types.js';

export class WebhookSink {
  private readonly config: WebhookConfig;
  private readonly logger: Logger;
  private readonly fetchImpl: typeof fetch;
  private readonly baseDelayMs: number;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(config: WebhookConfig, options: { logger: Logger; fetch?: typeof fetch; baseDelayMs?: number }) {
    this.config = config;
    this.logger = options.logger;
    this.fetchImpl = options.fetch ?? fetch;
    this.baseDelayMs = options.baseDelayMs ?? 500;
  }

  wants(type: string): boolean {
    return this.config.types.length === 0 || this.config.types.includes(type);
  }

  async deliver(event: PortcullisEvent): Promise<void> {
    const body = JSON.stringify(event);
    const signature = 'sha256=' + createHmac('sha256', this.config.secret).update(body).digest('hex');
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
      } catch {
        // retried below
      }
      if (attempt < this.config.max_attempts) await this.sleep(this.baseDelayMs * 2 ** (attempt - 1));
    }
    if (!this.closed) this.logger.warn('webhook delivery failed', { url: redact(this.config.url), event: event.event });
  }

  close(): void {
    this.closed = true;
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

/** Drops credentials and query from a URL before logging it. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * The dedicated LISTEN connection: delivers every replica's change notifications (this
 * one's included) to local listeners. If it drops it reconnects with backoff, and after a
 * reconnect publishes `{kind:'signing_key', key:'*'}` locally, since changes (a key rotation
 * among them) may have been missed.
 *
 * While it is down no change reaches this replica, not even its own, so its caches could keep
 * a revoked session or token for their whole TTL. So the moment it drops, and then every
 * BLIND_FLUSH_MS until it is back, it publishes `*` locally: nothing cached is older than that,
 * and a revocation made anywhere applies here within a second, as SPEC 7 requires.
 */
import pg from 'pg';
import type { StoreLogger } from '../sql-driver.js';
import type { StoreChange } from '../types.js';

export const CHANGE_CHANNEL = 'portcullis_changes';

/** How often the caches are dropped while changes cannot arrive. */
export const BLIND_FLUSH_MS = 500;

const KINDS = new Set<StoreChange['kind']>(['user', 'session', 'token', 'signing_key']);

export function parseChange(payload: string | undefined): StoreChange | undefined {
  if (!payload) return undefined;
  try {
    const value = JSON.parse(payload) as { kind?: unknown; key?: unknown };
    if (typeof value.key === 'string' && KINDS.has(value.kind as StoreChange['kind'])) {
      return { kind: value.kind as StoreChange['kind'], key: value.key };
    }
  } catch {
    // fall through: a malformed payload is ignored
  }
  return undefined;
}

export class ChangeListener {
  private readonly config: pg.ClientConfig;
  private readonly deliver: (change: StoreChange) => void;
  private readonly logger: StoreLogger;
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private blind: NodeJS.Timeout | undefined;
  private attempt = 0;
  private closed = false;

  constructor(config: pg.ClientConfig, deliver: (change: StoreChange) => void, logger: StoreLogger) {
    this.config = { ...config, application_name: 'portcullis-listen', keepAlive: true };
    this.deliver = deliver;
    this.logger = logger;
  }

  /** First connection: throws if the database cannot be reached. */
  async start(): Promise<void> {
    await this.connect(false);
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.seeing();
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(isReconnect: boolean): Promise<void> {
    const client = new pg.Client(this.config);
    client.on('error', (err) => this.dropped(client, err));
    client.on('end', () => this.dropped(client));
    client.on('notification', (msg) => {
      if (msg.channel !== CHANGE_CHANNEL) return;
      const change = parseChange(msg.payload);
      if (change) this.deliver(change);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.attempt = 0;
    this.seeing();
    if (isReconnect) {
      this.logger('info', 'store change listener reconnected');
      this.deliver({ kind: 'signing_key', key: '*' });
    }
  }

  private dropped(client: pg.Client, err?: Error): void {
    if (client !== this.client || this.closed) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.logger('warn', 'store change listener lost its connection', err ? { error: err.message } : undefined);
    this.goBlind();
    this.schedule();
  }

  /** Changes stopped arriving: drop the caches now and keep dropping them until reconnected. */
  private goBlind(): void {
    this.deliver({ kind: 'user', key: '*' });
    if (this.blind) return;
    this.blind = setInterval(() => this.deliver({ kind: 'user', key: '*' }), BLIND_FLUSH_MS);
    this.blind.unref();
  }

  private seeing(): void {
    if (this.blind) clearInterval(this.blind);
    this.blind = undefined;
  }

  private schedule(): void {
    if (this.closed || this.timer) return;
    const delay = Math.min(5_000, 100 * 2 ** this.attempt) + Math.floor(Math.random() * 100);
    this.attempt++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.closed) return;
      this.connect(true).catch((err: unknown) => {
        this.logger('warn', 'store change listener could not reconnect', { error: err instanceof Error ? err.message : String(err), attempt: this.attempt });
        this.schedule();
      });
    }, delay);
    this.timer.unref();
  }
}

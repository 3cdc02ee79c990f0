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
 *
 * A connection can also hang without closing (a network partition, a frozen database host):
 * nothing arrives and nothing says so until TCP keep-alive gives up, minutes later. So every
 * HEARTBEAT_MS the listener asks the database for an answer on the LISTEN connection; one
 * that does not come within HEARTBEAT_TIMEOUT_MS counts as a drop. A change made while the
 * connection hangs is therefore missed for at most HEARTBEAT_MS + HEARTBEAT_TIMEOUT_MS before
 * the caches are dropped.
 */
import pg from 'pg';
import type { StoreLogger } from '../sql-driver.js';
import type { StoreChange } from '../types.js';

export const CHANGE_CHANNEL = 'portcullis_changes';

/** How often the caches are dropped while changes cannot arrive. */
export const BLIND_FLUSH_MS = 500;

/** How often the LISTEN connection is asked for a sign of life, and how long its answer may take. */
export const HEARTBEAT_MS = 300;
export const HEARTBEAT_TIMEOUT_MS = 600;

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
  private heartbeat: NodeJS.Timeout | undefined;
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
    this.stopHeartbeat();
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
    this.startHeartbeat(client);
    if (isReconnect) {
      this.logger('info', 'store change listener reconnected');
      this.deliver({ kind: 'signing_key', key: '*' });
    }
  }

  private dropped(client: pg.Client, err?: Error): void {
    if (client !== this.client || this.closed) return;
    this.client = undefined;
    this.stopHeartbeat();
    client.end().catch(() => undefined);
    this.logger('warn', 'store change listener lost its connection', err ? { error: err.message } : undefined);
    this.goBlind();
    this.schedule();
  }

  /**
   * Asks the connection for an answer every HEARTBEAT_MS, one question at a time. No answer
   * within HEARTBEAT_TIMEOUT_MS: the connection is dropped (its socket destroyed, since a polite
   * end would wait on the hung peer too), and the caches with it.
   */
  private startHeartbeat(client: pg.Client): void {
    this.stopHeartbeat();
    let waiting = false;
    this.heartbeat = setInterval(() => {
      if (waiting || client !== this.client) return;
      waiting = true;
      const deadline = setTimeout(() => {
        if (client !== this.client) return;
        this.dropped(client, new Error(`no answer to a heartbeat within ${HEARTBEAT_TIMEOUT_MS} ms`));
        (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
      }, HEARTBEAT_TIMEOUT_MS);
      client.query('SELECT 1').then(
        () => {
          clearTimeout(deadline);
          waiting = false;
        },
        // Whatever made even this fail, changes cannot be trusted to arrive on this connection.
        (err: Error) => {
          clearTimeout(deadline);
          this.dropped(client, err);
        },
      );
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
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

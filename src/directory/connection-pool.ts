/**
 * A bounded pool of connections bound as the service account (SPEC 18: `ldap.pool_size`):
 * searches reuse them instead of connecting and binding each time; user binds never use them.
 * A connection that failed is dropped; an operation that failed on a reused connection (the
 * directory restarted, an idle connection was cut) is tried once more on a new one.
 */
import type { Client } from 'ldapts';

export interface PoolOptions {
  size: number;
  /** Opens a connection bound as the service account. */
  open(): Promise<Client>;
  /** How long a caller waits for a connection when all are busy. */
  waitMs: number;
}

export class ConnectionPool {
  private readonly options: PoolOptions;
  private readonly idle: Client[] = [];
  private busy = 0;
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(options: PoolOptions) {
    if (!(options.size >= 1)) throw new TypeError('pool size must be at least 1');
    this.options = options;
  }

  /** Runs `work` on a pooled connection (retried once on a fresh one if a reused one failed). */
  async use<T>(work: (client: Client) => Promise<T>): Promise<T> {
    await this.slot();
    let reused = this.idle.length > 0;
    try {
      for (;;) {
        // ldapts reconnects a client whose socket closed, but unbound: such a one is dropped.
        let client = this.idle.pop();
        while (client !== undefined && !client.isConnected) {
          await client.unbind().catch(() => undefined);
          client = this.idle.pop();
        }
        client ??= await this.options.open();
        try {
          const result = await work(client);
          this.idle.push(client);
          return result;
        } catch (err) {
          // An LDAP result (no such object, a refused change) leaves the connection as it was.
          if (!isConnectionError(err)) {
            this.idle.push(client);
            throw err;
          }
          await client.unbind().catch(() => undefined);
          if (!reused) throw err;
          reused = false;
        }
      }
    } finally {
      this.busy--;
      this.waiting.shift()?.();
      if (this.closed) await this.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const clients = this.idle.splice(0);
    await Promise.all(clients.map((client) => client.unbind().catch(() => undefined)));
  }

  private async slot(): Promise<void> {
    if (this.closed) throw new Error('the directory connection pool is closed');
    if (this.busy < this.options.size) {
      this.busy++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiting.indexOf(grant);
        if (index !== -1) this.waiting.splice(index, 1);
        reject(new Error(`no directory connection free within ${this.options.waitMs} ms`));
      }, this.options.waitMs);
      const grant = (): void => {
        clearTimeout(timer);
        this.busy++;
        resolve();
      };
      this.waiting.push(grant);
    });
  }
}

/** An error of the connection itself (not an LDAP result such as "no such object"). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  // ldapts result errors carry a numeric LDAP result code; socket errors a string one or none.
  return typeof code !== 'number';
}

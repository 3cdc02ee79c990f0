/**
 * How many requests one route has in flight to its upstream (`routes[].max_sockets`), and how
 * many of them one client address holds (`server.max_upstream_sockets_per_client`): one client
 * with many slow requests (long polls, event streams, a slow backend) cannot take every
 * connection of the route. A request over either bound waits in a bounded FIFO queue (at most
 * `max_sockets` waiting, at most the per-client bound of them from one client) for the route
 * timeout; a full queue or a wait that runs out is answered 503 `upstream_busy`.
 *
 * A request that finds a slot (tryTake) costs two counter updates and two Map operations: no
 * timer, no closure.
 */

interface Waiter {
  client: string;
  grant: () => void;
  refuse: () => void;
  timer: NodeJS.Timeout;
}

export interface UpstreamSlotsOptions {
  /** Requests in flight to the upstream at once. */
  maxInFlight: number;
  /** Of those, how many one client holds at once; 0: no per-client bound. */
  maxPerClient: number;
  /** How long a queued request waits for a slot. */
  waitMs: number;
}

export class UpstreamSlots {
  private readonly options: UpstreamSlotsOptions;
  private inFlight = 0;
  private readonly byClient = new Map<string, number>();
  private readonly waiting: Waiter[] = [];
  private readonly waitingByClient = new Map<string, number>();

  constructor(options: UpstreamSlotsOptions) {
    if (!(options.maxInFlight >= 1) || !(options.maxPerClient >= 0)) throw new TypeError('maxInFlight must be at least 1 and maxPerClient at least 0');
    this.options = options;
  }

  /** Takes a slot for the client if one is free now (no timer, no closure); see wait() otherwise. */
  tryTake(client: string): boolean {
    if (!this.mayTake(client)) return false;
    this.take(client);
    return true;
  }

  /**
   * Queues the client for a slot: `grant` is called when it has one (give it back with
   * release), `refuse` at once when the queue is full, or when the wait ran out.
   */
  wait(client: string, grant: () => void, refuse: () => void): void {
    if (this.tryTake(client)) {
      grant();
      return;
    }
    const { maxInFlight, maxPerClient, waitMs } = this.options;
    const queued = this.waitingByClient.get(client) ?? 0;
    if (this.waiting.length >= maxInFlight || (maxPerClient > 0 && queued >= maxPerClient)) {
      refuse();
      return;
    }
    const waiter: Waiter = {
      client,
      grant,
      refuse,
      timer: setTimeout(() => {
        this.unqueue(waiter);
        refuse();
      }, waitMs),
    };
    this.waiting.push(waiter);
    this.waitingByClient.set(client, queued + 1);
  }

  /** Gives a granted slot back and hands it to the first waiter that may take it. */
  release(client: string): void {
    this.inFlight--;
    const held = (this.byClient.get(client) ?? 1) - 1;
    if (held > 0) this.byClient.set(client, held);
    else this.byClient.delete(client);
    if (this.waiting.length === 0) return;
    const next = this.waiting.find((waiter) => this.mayTake(waiter.client));
    if (next === undefined) return;
    clearTimeout(next.timer);
    this.unqueue(next);
    this.take(next.client);
    next.grant();
  }

  /** Requests in flight and waiting (for tests and metrics). */
  get counts(): { inFlight: number; waiting: number; clients: number } {
    return { inFlight: this.inFlight, waiting: this.waiting.length, clients: this.byClient.size };
  }

  private mayTake(client: string): boolean {
    const { maxInFlight, maxPerClient } = this.options;
    return this.inFlight < maxInFlight && (maxPerClient === 0 || (this.byClient.get(client) ?? 0) < maxPerClient);
  }

  private take(client: string): void {
    this.inFlight++;
    this.byClient.set(client, (this.byClient.get(client) ?? 0) + 1);
  }

  private unqueue(waiter: Waiter): void {
    const index = this.waiting.indexOf(waiter);
    if (index !== -1) this.waiting.splice(index, 1);
    const left = (this.waitingByClient.get(waiter.client) ?? 1) - 1;
    if (left > 0) this.waitingByClient.set(waiter.client, left);
    else this.waitingByClient.delete(waiter.client);
  }
}

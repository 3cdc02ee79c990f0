/**
 * The WebSockets the gateway has upgraded, each with the grant it was authorised by (SPEC 7: a
 * socket closes within the second its credential ends). A socket is re-checked when a change
 * notification names its user, session or token (or everything, `*`), and when its credential's
 * own expiry has passed; a credential that no longer stands closes both the client's socket and
 * the upstream's. One timer serves every socket (unref'd, running only while there are any).
 *
 * Fails closed: a re-check that cannot be done (the store does not answer) is logged and tried
 * again on every tick until it can be; past the credential's expiry it closes the socket. The
 * re-check itself runs once at tracking: a change committed between the handshake's
 * authentication and the tracking (whose notification came too early to find the socket) is
 * then read from the store.
 *
 * A record lives from the handshake's authorisation until either side's socket closes.
 */
import type { Duplex } from 'node:stream';
import type { GrantVerdict, SocketGrant } from '../authn/socket-grants.js';
import type { Logger } from '../observability/logger.js';
import type { StoreChange } from '../store/types.js';

/** How often expiries and failed re-checks are looked at. */
export const OPEN_SOCKETS_TICK_MS = 250;

export interface OpenSocketsOptions {
  recheck(grants: readonly SocketGrant[]): Promise<GrantVerdict[]>;
  now: () => number;
  logger: Logger;
  /** Called once per socket closed because its credential ended. */
  onClosed?: (reason: string) => void;
  tickMs?: number;
}

export interface OpenSocket {
  readonly grant: SocketGrant | undefined;
  readonly client: Duplex;
  upstream: Duplex | undefined;
  closed: boolean;
  checking: boolean;
  /** A change arrived during a re-check: check again when it is done. */
  again: boolean;
  /** The last re-check could not be done: retried on the next tick. */
  retry: boolean;
}

export class OpenSockets {
  private readonly sockets = new Set<OpenSocket>();
  private readonly options: OpenSocketsOptions;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(options: OpenSocketsOptions) {
    this.options = options;
  }

  get size(): number {
    return this.sockets.size;
  }

  /**
   * Records an authorised handshake's client socket (`grant` undefined: no credential, nothing to
   * end) and checks its grant once against the store.
   */
  track(grant: SocketGrant | undefined, client: Duplex): OpenSocket {
    const entry: OpenSocket = { grant, client, upstream: undefined, closed: client.destroyed, checking: false, again: false, retry: false };
    if (entry.closed) return entry;
    this.sockets.add(entry);
    client.once('close', () => this.forget(entry, entry.upstream));
    this.arm();
    if (grant !== undefined) this.check([entry]);
    return entry;
  }

  /** The upstream's socket of a tracked handshake, once it answered 101. */
  attach(entry: OpenSocket, upstream: Duplex): void {
    if (entry.closed) {
      upstream.destroy();
      return;
    }
    entry.upstream = upstream;
    upstream.once('close', () => this.forget(entry, entry.client));
  }

  /** A change notification: re-checks the sockets it may concern. */
  changed(change: StoreChange): void {
    if (this.sockets.size === 0) return;
    const all = change.key === '*';
    if (!all && change.kind === 'signing_key') return;
    const concerned: OpenSocket[] = [];
    for (const entry of this.sockets) {
      const grant = entry.grant;
      if (grant === undefined) continue;
      if (
        all ||
        (change.kind === 'user' && grant.username === change.key) ||
        (change.kind === 'session' && grant.sessionHash === change.key) ||
        (change.kind === 'token' && grant.tokenId === change.key)
      ) {
        concerned.push(entry);
      }
    }
    this.check(concerned);
  }

  /** Closes every open WebSocket, both sides (shutdown_timeout has passed). */
  closeAll(): void {
    for (const entry of [...this.sockets]) {
      entry.client.destroy();
      entry.upstream?.destroy();
      this.forget(entry, undefined);
    }
  }

  /** Stops the timer and the re-checks (shutdown); the sockets themselves are closed by closeAll. */
  close(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(entries: readonly OpenSocket[]): void {
    if (this.stopped) return;
    const batch: OpenSocket[] = [];
    for (const entry of entries) {
      if (entry.closed || entry.grant === undefined) continue;
      if (entry.checking) entry.again = true;
      else {
        entry.checking = true;
        entry.retry = false;
        batch.push(entry);
      }
    }
    if (batch.length === 0) return;
    const grants = batch.map((entry) => entry.grant as SocketGrant);
    this.options.recheck(grants).then(
      (verdicts) => this.apply(batch, verdicts),
      (err: unknown) =>
        this.apply(
          batch,
          batch.map(() => ({ alive: 'unknown', error: err })),
        ),
    );
  }

  private apply(batch: readonly OpenSocket[], verdicts: readonly GrantVerdict[]): void {
    const again: OpenSocket[] = [];
    let failure: unknown;
    batch.forEach((entry, i) => {
      entry.checking = false;
      const verdict: GrantVerdict = verdicts[i] ?? { alive: 'unknown', error: new Error('no verdict') };
      const grant = entry.grant as SocketGrant;
      if (entry.closed) return;
      if (verdict.alive === false) this.end(entry, verdict.reason);
      else if (verdict.alive === 'unknown') {
        failure ??= verdict.error;
        // What is known says the credential has ended: not kept open on the store's silence.
        if (this.options.now() >= grant.expiresAt) this.end(entry, 'expired');
        else entry.retry = true;
      } else {
        grant.expiresAt = verdict.expiresAt;
      }
      if (!entry.closed && entry.again) {
        entry.again = false;
        again.push(entry);
      }
    });
    if (failure !== undefined) this.options.logger.error('websocket credential re-check failed; retrying', { err: failure as Error, sockets: batch.length });
    this.check(again);
  }

  private tick(): void {
    const now = this.options.now();
    const due: OpenSocket[] = [];
    for (const entry of this.sockets) {
      if (entry.grant !== undefined && (entry.retry || now >= entry.grant.expiresAt)) due.push(entry);
    }
    this.check(due);
  }

  private end(entry: OpenSocket, reason: string): void {
    this.options.logger.info('websocket closed: its credential ended', { username: entry.grant?.username, reason });
    this.options.onClosed?.(reason);
    entry.client.destroy();
    entry.upstream?.destroy();
    this.forget(entry, undefined);
  }

  /** One side closed (or the credential ended): the record goes, and the other side is closed too. */
  private forget(entry: OpenSocket, other: Duplex | undefined): void {
    if (!entry.closed) {
      entry.closed = true;
      this.sockets.delete(entry);
      if (this.sockets.size === 0 && this.timer !== undefined) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }
    // Ended rather than destroyed: what it still has to send (a close frame) gets out first.
    if (other !== undefined && !other.destroyed) {
      other.end();
      setTimeout(() => other.destroy(), 1000).unref();
    }
  }

  private arm(): void {
    if (this.timer !== undefined || this.stopped) return;
    this.timer = setInterval(() => this.tick(), this.options.tickMs ?? OPEN_SOCKETS_TICK_MS);
    this.timer.unref();
  }
}

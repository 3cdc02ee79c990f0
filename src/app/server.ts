/**
 * Starts and stops the listeners: the gateway (HTTP + WebSocket upgrades) and the metrics
 * listener. Graceful shutdown stops accepting, lets in-flight requests finish within
 * server.shutdown_timeout, then closes the event sinks and the store within what is left of it
 * (at least CLEANUP_GRACE_MS): a store that stopped answering cannot keep the process alive.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseListen, type Config } from '../config/index.js';
import { settleWithin } from '../observability/settle-within.js';
import { createAuthEndpoints } from './auth-endpoints.js';
import { Gateway } from './gateway.js';
import { loadGatewayConfig } from './check.js';
import { applicable, type ReloadOutcome } from './reload.js';
import { buildRegistry, reconfigure, retire, type BuildOptions, type Registry } from './registry.js';
import { ConfigError } from '../config/load.js';

export interface RunningServer {
  /** The registry requests are handled with now (a reload replaces it). */
  readonly registry: Registry;
  readonly gateway: Gateway;
  /** Reloads the configuration file (SPEC 1); what SIGHUP and POST /.auth/api/config/reload call. */
  reload(): Promise<ReloadOutcome>;
  /** http://host:port the gateway listens on. */
  url: string;
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

/** Headers must be complete this long after a request starts (Node's check runs every HEADERS_CHECK_MS). */
export const HEADERS_TIMEOUT_MS = 10_000;
const HEADERS_CHECK_MS = 2_000;
/** The first retention purge runs this long after start, then every PURGE_INTERVAL_MS. */
export const FIRST_PURGE_DELAY_MS = 1_000;
const PURGE_INTERVAL_MS = 10 * 60_000;
/** Time the event sinks and the store get to close even when the requests took all of shutdown_timeout. */
const CLEANUP_GRACE_MS = 1_000;

/** The answer to CONNECT and TRACK, which never reach the request handler (SPEC 5). */
const METHOD_NOT_ALLOWED_BODY = '{"error":{"code":"method_not_allowed","message":"This method is never accepted"}}';
const METHOD_NOT_ALLOWED = `HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\nContent-Length: ${METHOD_NOT_ALLOWED_BODY.length}\r\n\r\n${METHOD_NOT_ALLOWED_BODY}`;

export interface StartOptions extends BuildOptions {
  /** Override listen addresses (tests use port 0). */
  listen?: string;
  metricsListen?: string;
  /** Where a reload reads the configuration again (the file and --set flags `serve` started with). */
  reloadFrom?: { file: string | undefined; overrides?: string[] };
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const metricsListen = options.metricsListen ?? config.metrics.listen;
  // The default process metrics sample the event loop on a 10 ms timer (17–26 ms of CPU a second
  // when idle): collected only when a metrics listener serves them.
  const registry = await buildRegistry(config, { ...options, defaultMetrics: options.defaultMetrics ?? metricsListen !== '' });
  const current = { registry, gateway: gatewayFor(registry) };
  // A client sending its headers a byte at a time holds a connection at most HEADERS_TIMEOUT_MS
  // (+ one check interval), and no more than server.max_connections are held at all: past it a
  // new connection is closed at once instead of taking the process's last file descriptors.
  const server = createServer(
    { requestTimeout: 120_000, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: HEADERS_CHECK_MS, keepAliveTimeout: 65_000, maxHeaderSize: 32 * 1024 },
    (req, res) => current.gateway.handleRequest(req, res),
  );
  if (config.server.max_connections > 0) server.maxConnections = config.server.max_connections;
  // Node keeps 2,000 header fields and drops the rest without a word: one more than the limit
  // is enough to refuse the request (431) instead of forwarding a truncated one (SPEC 6).
  server.maxHeadersCount = config.server.max_header_count + 1;
  server.on('upgrade', (req, socket, head) => current.gateway.handleUpgrade(req, socket, head));
  // CONNECT is never a tunnel here (SPEC 5): answered 405 on every route, never forwarded.
  server.on('connect', (_req, socket: Duplex) => {
    socket.on('error', () => socket.destroy());
    socket.end(METHOD_NOT_ALLOWED);
  });
  server.on('clientError', (err, socket) => {
    // A response already under way on this connection (a pipelined garbage request behind a
    // slow answer): a 400 written now would land inside its body. Cut the connection instead.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    const tooLarge = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
    // Node's parser knows no TRACK: answered like TRACE (SPEC 5), a method never accepted.
    if ((err as NodeJS.ErrnoException).code === 'HPE_INVALID_METHOD' && /^TRACK /i.test((err as { rawPacket?: Buffer }).rawPacket?.toString('latin1', 0, 6) ?? '')) {
      socket.end(METHOD_NOT_ALLOWED, () => socket.destroy());
      return;
    }
    // Closed once the answer is written, not left half-open: a client that never reads (a slow
    // headers client cut by headersTimeout) would otherwise hold the connection for good.
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nConnection: close\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\nContent-Length: 0\r\n\r\n`,
      () => socket.destroy(),
    );
  });
  // One purge at a time: a large backlog on a slow store may outlast the interval.
  let purging: Promise<void> | undefined;
  const runPurge = (): void => {
    if (purging) return;
    const now = registry.now();
    purging = registry.store
      .purge(now, now - config.events.retention, now - config.users.lockout.window)
      .catch((err: unknown) => registry.logger.warn('purge failed', { err: err as Error }))
      .finally(() => {
        purging = undefined;
      });
  };
  // Soon after start too, not only after the first interval: a gateway restarted more often
  // than every 10 minutes (a crash loop, frequent deploys) would otherwise never purge.
  const firstPurge = setTimeout(runPurge, FIRST_PURGE_DELAY_MS);
  firstPurge.unref();
  // At least once per lockout window: made-up names flooding the login leave a failure row and a
  // lockout row each, which count for nothing after the window (SPEC 9: bounded bookkeeping).
  const purge = setInterval(runPurge, Math.min(PURGE_INTERVAL_MS, Math.max(FIRST_PURGE_DELAY_MS, config.users.lockout.window)));
  purge.unref();
  const rotation = setInterval(() => {
    registry.gatewayKeys.rotateIfOlderThan(config.server.signing_key_rotation).catch((err: unknown) => registry.logger.warn('signing key rotation failed', { err: err as Error }));
  }, 3_600_000);
  rotation.unref();

  let metricsServer: Server | undefined;
  try {
    await listen(server, options.listen ?? config.server.listen);
    if (metricsListen !== '') {
      metricsServer = createServer((req, res) => {
        if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
          registry.metrics.registry.metrics().then(
            (text) => {
              res.writeHead(200, { 'content-type': registry.metrics.registry.contentType });
              res.end(text);
            },
            () => {
              res.writeHead(500);
              res.end();
            },
          );
          return;
        }
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found\n');
      });
      await listen(metricsServer, metricsListen);
    }
  } catch (err) {
    clearTimeout(firstPurge);
    clearInterval(purge);
    clearInterval(rotation);
    server.close();
    metricsServer?.close();
    await registry.close();
    throw err;
  }

  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const metricsAddress = metricsServer?.address() as AddressInfo | undefined;
  let closing: Promise<void> | undefined;
  const reload = configReloader({ server, current, options, startedWith: config });
  // Only a gateway started from a file it can read again offers the reload through the API.
  if (options.reloadFrom !== undefined) registry.reloadConfig = reload;
  const running: RunningServer = {
    get registry() {
      return current.registry;
    },
    get gateway() {
      return current.gateway;
    },
    reload,
    url: `http://${host}:${address.port}`,
    metricsUrl: metricsAddress ? `http://${metricsAddress.family === 'IPv6' ? `[${metricsAddress.address}]` : metricsAddress.address}:${metricsAddress.port}` : undefined,
    close: () =>
      (closing ??= (async () => {
        const deadline = performance.now() + config.server.shutdown_timeout;
        clearTimeout(firstPurge);
        clearInterval(purge);
        clearInterval(rotation);
        current.registry.ready = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Upgraded WebSockets are no longer the server's connections (closeAllConnections does
        // not see them) yet server.close() waits for them: closed here too, or shutdown never ends.
        const timer = setTimeout(() => {
          server.closeAllConnections();
          registry.openSockets.closeAll();
        }, config.server.shutdown_timeout);
        timer.unref();
        await closed;
        clearTimeout(timer);
        const cleanup = (async () => {
          if (metricsServer) {
            const metricsClosed = new Promise<void>((resolve) => metricsServer?.close(() => resolve()));
            metricsServer.closeAllConnections();
            await metricsClosed;
          }
          current.gateway.close();
          await current.registry.close();
        })();
        const left = Math.max(deadline - performance.now(), CLEANUP_GRACE_MS);
        if ((await settleWithin(cleanup, left)) === 'late') {
          // The store (or a webhook receiver) stopped answering: the process may exit anyway.
          registry.logger.warn('shutdown: the store and event sinks did not close in time', { waited_ms: Math.round(left) });
          return;
        }
        await cleanup; // done in time: a cleanup that failed still fails close()
      })()),
  };
  return running;
}

/** The gateway of a registry, with its /.auth endpoints. */
function gatewayFor(registry: Registry): Gateway {
  let gateway: Gateway | undefined;
  const endpoints = createAuthEndpoints(registry, () => gateway as Gateway);
  gateway = new Gateway(registry, endpoints);
  return gateway;
}

/**
 * Reloads the configuration file: validated as at start (every problem logged with its key path,
 * ConfigReloadFailed, the running configuration kept), then the new registry and gateway take
 * the next requests; requests under way finish with the ones they started with, which are
 * retired after server.shutdown_timeout. Open connections, sessions and WebSockets stay.
 */
function configReloader(context: { server: Server; current: { registry: Registry; gateway: Gateway }; options: StartOptions; startedWith: Config }): () => Promise<ReloadOutcome> {
  const { server, current, options } = context;
  let running: Promise<ReloadOutcome> | undefined;
  const once = async (): Promise<ReloadOutcome> => {
    const previous = current.registry;
    let loaded: Config;
    try {
      loaded = loadGatewayConfig({ file: options.reloadFrom?.file, env: options.env ?? process.env, overrides: options.reloadFrom?.overrides ?? [] });
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [{ path: '', message: (err as Error).message }];
      for (const problem of problems) previous.logger.error('config reload refused', { key: problem.path, problem: problem.message });
      previous.events.emit('ConfigReloadFailed', '', { problems: problems.map((p) => `${p.path}: ${p.message}`) });
      return { ok: false, problems };
    }
    const { config, changed, restart_required } = applicable(previous.config, loaded);
    if (restart_required.length > 0) previous.logger.warn('config reload: these keys need a restart and keep their running value', { restart_required });
    if (changed.length > 0) {
      const registry = await reconfigure(previous, config);
      registry.reloadConfig = previous.reloadConfig;
      const old = { ...current };
      current.registry = registry;
      current.gateway = gatewayFor(registry);
      server.maxHeadersCount = config.server.max_header_count + 1;
      const retireLater = setTimeout(() => {
        old.gateway.close();
        void retire(old.registry);
      }, context.startedWith.server.shutdown_timeout);
      retireLater.unref();
    }
    current.registry.logger.info('config reloaded', { changed, restart_required });
    current.registry.events.emit('ConfigReloaded', '', { changed, restart_required });
    return { ok: true, changed, restart_required };
  };
  // One reload at a time: a second signal while one runs waits for it.
  return () => (running ??= once().finally(() => (running = undefined)));
}

function listen(server: Server, address: string): Promise<void> {
  const parsed = parseListen(address);
  if (!parsed) return Promise.reject(new Error(`invalid listen address ${address}`));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(parsed.port, parsed.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Starts and stops the listeners: the gateway (HTTP + WebSocket upgrades) and the metrics
 * listener. Graceful shutdown stops accepting, lets in-flight requests finish within
 * server.shutdown_timeout, then closes the store.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListen, type Config } from '../config/index.js';
import { createAuthEndpoints } from './auth-endpoints.js';
import { Gateway } from './gateway.js';
import { buildRegistry, type BuildOptions, type Registry } from './registry.js';

export interface RunningServer {
  registry: Registry;
  gateway: Gateway;
  /** http://host:port the gateway listens on. */
  url: string;
  metricsUrl: string | undefined;
  close(): Promise<void>;
}

export interface StartOptions extends BuildOptions {
  /** Override listen addresses (tests use port 0). */
  listen?: string;
  metricsListen?: string;
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const metricsListen = options.metricsListen ?? config.metrics.listen;
  // The default process metrics sample the event loop on a 10 ms timer (17–26 ms of CPU a second
  // when idle): collected only when a metrics listener serves them.
  const registry = await buildRegistry(config, { ...options, defaultMetrics: options.defaultMetrics ?? metricsListen !== '' });
  let gateway: Gateway | undefined;
  const endpoints = createAuthEndpoints(registry, () => gateway as Gateway);
  gateway = new Gateway(registry, endpoints);
  const server = createServer({ requestTimeout: 120_000, headersTimeout: 30_000, keepAliveTimeout: 65_000, maxHeaderSize: 32 * 1024 }, gateway.handleRequest);
  server.on('upgrade', gateway.handleUpgrade);
  server.on('clientError', (err, socket) => {
    // A response already under way on this connection (a pipelined garbage request behind a
    // slow answer): a 400 written now would land inside its body. Cut the connection instead.
    const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (!socket.writable || inFlight?.headersSent) return socket.destroy();
    const tooLarge = (err as NodeJS.ErrnoException).code === 'HPE_HEADER_OVERFLOW';
    socket.end(`HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  const purge = setInterval(() => {
    const now = registry.now();
    registry.store.purge(now, now - config.events.retention).catch((err: unknown) => registry.logger.warn('purge failed', { err: err as Error }));
  }, 10 * 60_000);
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
  const running: RunningServer = {
    registry,
    gateway,
    url: `http://${host}:${address.port}`,
    metricsUrl: metricsAddress ? `http://${metricsAddress.family === 'IPv6' ? `[${metricsAddress.address}]` : metricsAddress.address}:${metricsAddress.port}` : undefined,
    close: () =>
      (closing ??= (async () => {
        clearInterval(purge);
        clearInterval(rotation);
        registry.ready = false;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const timer = setTimeout(() => server.closeAllConnections(), config.server.shutdown_timeout);
        timer.unref();
        await closed;
        clearTimeout(timer);
        if (metricsServer) await new Promise<void>((resolve) => metricsServer?.close(() => resolve()));
        gateway?.close();
        await registry.close();
      })()),
  };
  return running;
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

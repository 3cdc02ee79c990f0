/**
 * Forwarding with http-proxy over keep-alive agents, one per upstream. Upstream failures
 * answer 502 `upstream_unavailable` or 504 `upstream_timeout` and are counted; nothing an
 * upstream does can crash the gateway.
 */
import * as http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as https from 'node:https';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { Logger } from '../observability/logger.js';
import type { CompiledRoute } from './routes.js';
import { echo } from './echo.js';

export interface ForwardHooks {
  /** Called once when forwarding failed before any response byte was sent. */
  onError(kind: 'unavailable' | 'timeout', req: IncomingMessage, res: ServerResponse | Duplex): void;
}

const TIMED_OUT = Symbol('portcullis.timedOut');
const CLIENT_CONNECTION = Symbol('portcullis.clientConnection');
type Marked = IncomingMessage & { [TIMED_OUT]?: boolean; [CLIENT_CONNECTION]?: string };

/** Remembers the client's Connection header before header hygiene removes it. */
export function rememberClientConnection(req: IncomingMessage): void {
  const value = req.headers.connection;
  (req as Marked)[CLIENT_CONNECTION] = typeof value === 'string' ? value : '';
}

export class Forwarder {
  private readonly proxy: httpProxy;
  private readonly agents = new Map<string, http.Agent>();
  private readonly logger: Logger;
  private readonly hooks: ForwardHooks;

  constructor(options: { logger: Logger; hooks: ForwardHooks }) {
    this.logger = options.logger;
    this.hooks = options.hooks;
    this.proxy = httpProxy.createProxyServer({ xfwd: false, ws: true, changeOrigin: false, ignorePath: false, prependPath: false });
    this.proxy.on('proxyReq', (proxyReq, req) => {
      proxyReq.once('timeout', () => {
        (req as Marked)[TIMED_OUT] = true;
      });
    });
    this.proxy.on('proxyRes', (proxyRes, req) => {
      // Hop-by-hop headers of the upstream connection are not the client's: drop them and the
      // ones the upstream's Connection header nominates, then answer the client's own wish.
      const headers = proxyRes.headers;
      const nominated = typeof headers.connection === 'string' ? headers.connection.split(',').map((t) => t.trim().toLowerCase()) : [];
      for (const name of nominated) if (name !== '' && name !== 'close' && name !== 'keep-alive') delete headers[name];
      delete headers['keep-alive'];
      delete headers['proxy-connection'];
      const client = (req as Marked)[CLIENT_CONNECTION] ?? '';
      headers.connection = /\bclose\b/i.test(client) || (req.httpVersion === '1.0' && !/keep-alive/i.test(client)) ? 'close' : 'keep-alive';
    });
    this.proxy.on('error', (err, req, res) => this.fail(err, req, res as ServerResponse | Duplex));
    this.proxy.on('econnreset', () => undefined);
  }

  private agentFor(upstream: string): http.Agent {
    let agent = this.agents.get(upstream);
    if (!agent) {
      const options = { keepAlive: true, keepAliveMsecs: 1000, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' as const };
      agent = upstream.startsWith('https:') ? new https.Agent(options) : new http.Agent(options);
      this.agents.set(upstream, agent);
    }
    return agent;
  }

  web(route: CompiledRoute, req: IncomingMessage, res: ServerResponse): void {
    const upstream = route.config.upstream;
    if (upstream === 'builtin:echo') {
      echo(req, res);
      return;
    }
    this.proxy.web(req, res, {
      target: upstream,
      agent: this.agentFor(upstream),
      proxyTimeout: route.config.timeout,
      changeOrigin: !route.config.preserve_host,
    }, (err) => this.fail(err, req, res));
  }

  ws(route: CompiledRoute, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const upstream = route.config.upstream;
    if (upstream === 'builtin:echo') {
      rejectUpgrade(socket, 501, 'Not Implemented');
      return;
    }
    this.proxy.ws(req, socket, head, { target: upstream, changeOrigin: !route.config.preserve_host, proxyTimeout: route.config.timeout }, (err) => this.fail(err, req, socket));
  }

  private fail(err: Error, req: IncomingMessage, res: ServerResponse | Duplex): void {
    const kind = (req as Marked)[TIMED_OUT] ? 'timeout' : 'unavailable';
    this.logger.debug('upstream error', { kind, code: (err as NodeJS.ErrnoException).code });
    this.hooks.onError(kind, req, res);
  }

  close(): void {
    this.proxy.close();
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }
}

export function rejectUpgrade(socket: Duplex, status: number, text: string, body = ''): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

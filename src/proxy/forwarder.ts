/**
 * Forwarding with http-proxy over keep-alive agents, one proxy server and one agent per route.
 * Upstream failures answer 502 `upstream_unavailable` or 504 `upstream_timeout` and are
 * counted; nothing an upstream does can crash the gateway.
 *
 * Hot-path choices (measured by `npm run bench`, see docs/benchmarks.md): each route's proxy
 * holds its options, with the target already parsed, so http-proxy neither copies options nor
 * parses a URL per request; the request target is the gateway's own normalised path, passed as
 * is (`toProxy`) and reaches the upstream unchanged (see withExactUpstreamPaths); and the
 * gateway writes the response head itself (`selfHandleResponse`) in one `writeHead` call
 * instead of one `setHeader` per upstream header; the upstream's request headers are the
 * gateway's flat list, which Node writes as it is (see withUpstreamHeaderLists); a request without
 * a body is not piped upstream, only ended (see request-body.ts). The route's
 * timeout lives on its agent's sockets, and on a request only while it waits for one (see
 * timedAgent), rather than being armed and disarmed per request.
 */
import type * as http from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import './http-proxy-compat.js';
import httpProxy from 'http-proxy';
import { effectiveCookieName } from '../http/cookies.js';
import { connectionTokens, headerObject, type UpstreamHeaders } from '../http/headers.js';
import type { Logger } from '../observability/logger.js';
import type { CompiledRoute } from './routes.js';
import { echo } from './echo.js';
import { withExactUpstreamPaths } from './exact-path.js';
import { upstreamHeadersOf, withUpstreamHeaderLists } from './upstream-headers.js';
import { timedAgent, upstreamTimeout, UPSTREAM_TIMEOUT } from './timed-agent.js';
import { REQUEST_BODY } from './request-body.js';
import { UpstreamSlots } from './upstream-slots.js';

export interface ForwardHooks {
  /** Called once when forwarding failed before any response byte was sent. */
  onError(kind: 'unavailable' | 'timeout' | 'busy', req: IncomingMessage, res: ServerResponse | Duplex): void;
}

const REQUEST_ID = Symbol('portcullis.requestId');
const GATEWAY_COOKIE = Symbol('portcullis.gatewayCookie');
const UPSTREAM_RESPONSE = Symbol('portcullis.upstreamResponse');
const ON_UPSTREAM_SOCKET = Symbol('portcullis.onUpstreamSocket');
type Marked = IncomingMessage & { [REQUEST_ID]?: string; [GATEWAY_COOKIE]?: string; [ON_UPSTREAM_SOCKET]?: (upstream: Duplex) => void };
type MarkedResponse = ServerResponse & { [UPSTREAM_RESPONSE]?: IncomingMessage };

/** Response headers that describe the upstream connection, not the answer: never passed on. */
const RESPONSE_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te', 'proxy-authenticate', 'x-request-id']);

/** Marks the request with the id its response will carry in X-Request-Id. */
export function setRequestId(req: IncomingMessage, requestId: string): void {
  (req as Marked)[REQUEST_ID] = requestId;
}

/** Marks the request with a Set-Cookie of the gateway's own (clearing a stale session) for its response. */
export function setGatewayCookie(req: IncomingMessage, cookie: string): void {
  (req as Marked)[GATEWAY_COOKIE] = cookie;
}

export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as Marked)[REQUEST_ID];
}

function gatewayCookieOf(req: IncomingMessage): string | undefined {
  return (req as Marked)[GATEWAY_COOKIE];
}

/** Header names an upstream's Connection header nominates (lower-case), or undefined. */
function nominatedBy(rawHeaders: string[]): string[] | undefined {
  let nominated: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    const value = rawHeaders[i + 1] as string;
    // What keep-alive upstreams send on every answer: nominates nothing.
    if (value === 'keep-alive' || value === 'close') continue;
    const tokens = connectionTokens(value);
    if (tokens.length > 0) {
      nominated ??= [];
      nominated.push(...tokens);
    }
  }
  return nominated;
}

export class Forwarder {
  private readonly proxies = new Map<string, httpProxy>();
  private readonly agents: http.Agent[] = [];
  private readonly logger: Logger;
  private readonly hooks: ForwardHooks;
  private readonly protectedCookies: ReadonlySet<string>;
  private readonly maxSockets: number | undefined;
  private readonly maxPerClient: number;
  private readonly slots = new Map<string, UpstreamSlots>();

  /**
   * `protectedCookies`: cookie names only the gateway sets (its session cookie). A Set-Cookie
   * of one from an upstream is dropped, on answers and WebSocket handshakes alike: an upstream
   * must not plant a session of its choosing (fixation, login CSRF) or shadow the real one
   * with a second cookie of the same name. `maxSockets`: requests in flight per route to its
   * upstream (default: the route's max_sockets), `maxPerClient` of them from one client (0: no
   * bound); further requests wait in a bounded queue for the route timeout (UpstreamSlots).
   */
  constructor(options: { logger: Logger; hooks: ForwardHooks; protectedCookies?: readonly string[]; maxSockets?: number; maxPerClient?: number }) {
    this.logger = options.logger;
    this.hooks = options.hooks;
    this.protectedCookies = new Set((options.protectedCookies ?? []).map((name) => name.toLowerCase()));
    this.maxSockets = options.maxSockets;
    this.maxPerClient = options.maxPerClient ?? 0;
  }

  private slotsFor(route: CompiledRoute): UpstreamSlots {
    let slots = this.slots.get(route.name);
    if (!slots) {
      slots = new UpstreamSlots({ maxInFlight: this.maxSockets ?? route.config.max_sockets, maxPerClient: this.maxPerClient, waitMs: route.config.timeout });
      this.slots.set(route.name, slots);
    }
    return slots;
  }

  /** Any spelling of a protected name (a nameless `=portcullis_session=…`, another case): SPEC 7. */
  private isProtectedSetCookie(value: string): boolean {
    return this.protectedCookies.size > 0 && this.protectedCookies.has(effectiveCookieName(value));
  }

  private proxyFor(route: CompiledRoute): httpProxy {
    let proxy = this.proxies.get(route.name);
    if (!proxy) {
      proxy = this.createProxy(route);
      this.proxies.set(route.name, proxy);
    }
    return proxy;
  }

  private createProxy(route: CompiledRoute): httpProxy {
    const url = new URL(route.config.upstream);
    const secure = url.protocol === 'https:';
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    withExactUpstreamPaths();
    withUpstreamHeaderLists();
    const agent = timedAgent({ secure, timeoutMs: route.config.timeout, maxSockets: this.maxSockets ?? route.config.max_sockets });
    this.agents.push(agent);
    const proxy = httpProxy.createProxyServer({
      // A parsed target: http-proxy parses string targets on every request.
      target: { protocol: url.protocol, host: hostname, hostname, port: Number(url.port) || (secure ? 443 : 80) } as unknown as httpProxy.ProxyTargetUrl,
      agent,
      xfwd: false,
      // The gateway sets Host itself (HeaderPolicy.forwardHeaders) and rewrites req.url to the
      // normalised upstream path, which needs no parsing again.
      changeOrigin: false,
      prependPath: false,
      toProxy: true,
      selfHandleResponse: true,
      // What http-proxy pipes upstream after the head: the request's body, if it has one (see request-body.ts).
      buffer: REQUEST_BODY as unknown as httpProxy.ServerOptions['buffer'],
    });
    withoutDeleteLength(proxy);
    proxy.on('proxyRes', (proxyRes, req, res) => this.respond(proxyRes, req, res));
    // A WebSocket handshake gets the route's timeout too (upgrades do not use the route's agent):
    // an upstream that accepts the connection and never answers is a 504, not a client left
    // hanging. http-proxy sets the upgraded upstream socket's timeout back to 0, so an
    // established WebSocket may idle as long as both ends want.
    proxy.on('proxyReqWs', (proxyReq, req) => {
      proxyReq.setTimeout(route.config.timeout, () => proxyReq.destroy(upstreamTimeout(`upstream did not answer the upgrade within ${route.config.timeout} ms`)));
      // Both run before http-proxy's own listeners, which write proxyRes.headers to the client
      // as they are: 'upgrade' for a 101, 'response' for any other answer (a refused handshake).
      proxyReq.on('upgrade', (proxyRes: IncomingMessage, upstream: Duplex) => {
        (req as Marked)[ON_UPSTREAM_SOCKET]?.(upstream);
        const cookies = proxyRes.headers['set-cookie'];
        if (cookies !== undefined) proxyRes.headers['set-cookie'] = cookies.filter((value) => !this.isProtectedSetCookie(value));
        const requestId = requestIdOf(req);
        if (requestId !== undefined) proxyRes.headers['x-request-id'] = requestId;
      });
      // Node emits 'upgrade' instead of 'response' for a 101: every 'response' is a refusal.
      proxyReq.on('response', (proxyRes: IncomingMessage) => {
        proxyRes.headers = this.refusedHandshakeHeaders(proxyRes, req);
      });
    });
    proxy.on('error', (err, req, res) => this.fail(err, req, res as ServerResponse | Duplex));
    proxy.on('econnreset', () => undefined);
    return proxy;
  }

  /**
   * The headers of an upstream's answer the client gets, pushed into `out` as name, value
   * pairs (names as the upstream wrote them): all but the ones about the upstream connection
   * (and those its Connection header nominates) and a protected Set-Cookie, then the gateway's
   * X-Request-Id and its own cookie, if the request carries them.
   */
  private passedHeaders(proxyRes: IncomingMessage, req: IncomingMessage, out: string[]): void {
    const raw = proxyRes.rawHeaders;
    const nominated = nominatedBy(raw);
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i] as string;
      const lower = name.toLowerCase();
      if (RESPONSE_HOP_BY_HOP.has(lower) || nominated?.includes(lower)) continue;
      const value = raw[i + 1] as string;
      if (lower === 'set-cookie' && this.isProtectedSetCookie(value)) continue;
      out.push(name, value);
    }
    const requestId = requestIdOf(req);
    if (requestId !== undefined) out.push('x-request-id', requestId);
    const cookie = gatewayCookieOf(req);
    if (cookie !== undefined) out.push('set-cookie', cookie);
  }

  /**
   * The head of an upstream's answer to a WebSocket handshake that is not a 101, which
   * http-proxy writes to the client itself and follows with the body: filtered as respond()
   * filters an answer (passedHeaders), and with `Connection: close`, since http-proxy ends the
   * client connection after the body. Transfer-Encoding is dropped with the other connection
   * headers: the body comes through decoded, delimited by Content-Length or by the close.
   */
  private refusedHandshakeHeaders(proxyRes: IncomingMessage, req: IncomingMessage): IncomingHttpHeaders {
    const pairs: string[] = [];
    this.passedHeaders(proxyRes, req, pairs);
    const headers: Record<string, string[]> = {};
    for (let i = 0; i < pairs.length; i += 2) {
      const name = (pairs[i] as string).toLowerCase();
      headers[name] ??= [];
      headers[name].push(pairs[i + 1] as string);
    }
    headers.connection = ['close'];
    return headers;
  }

  /**
   * Writes the upstream's answer: its status and the headers passedHeaders gives; Node adds
   * the client connection's own Connection and framing headers.
   */
  private respond(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const head: string[] = [];
    this.passedHeaders(proxyRes, req, head);
    try {
      if (proxyRes.statusMessage) res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, head);
      else res.writeHead(proxyRes.statusCode ?? 502, head);
    } catch (err) {
      // A status or header Node refuses to send: the upstream answer cannot be passed on.
      proxyRes.destroy();
      this.logger.debug('upstream answer refused', { code: (err as NodeJS.ErrnoException).code });
      this.hooks.onError('unavailable', req, res);
      return;
    }
    // An upstream that dies mid-body must not leave the client waiting for the rest (and a
    // client that goes away must not keep the upstream response open: see web()).
    // on, not once: a response closes once, and once() costs a wrapper and a removeListener.
    proxyRes.on('close', () => {
      if (!proxyRes.complete) res.destroy();
    });
    (res as MarkedResponse)[UPSTREAM_RESPONSE] = proxyRes;
    sendBody(proxyRes, res);
  }

  /**
   * Forwards one request once its route and its client (`client`: clientKey of its address)
   * have an upstream slot (UpstreamSlots), else answers it `busy`. `onClose` is called once
   * when the client response closes, finished or not, with its status (one listener serves the
   * caller's accounting, the slot and the release of an unfinished upstream response).
   */
  web(route: CompiledRoute, req: IncomingMessage, res: ServerResponse, client: string, onClose?: (status: number) => void): void {
    // Fail closed: the gateway marks every request it forwards with the upstream's headers.
    const headers = upstreamHeadersOf(req);
    if (headers === undefined) throw new Error('a request reached the forwarder without its upstream headers');
    if (route.config.upstream === 'builtin:echo') {
      if (onClose) res.on('close', () => onClose(res.statusCode));
      const requestId = requestIdOf(req);
      if (requestId !== undefined) res.setHeader('x-request-id', requestId);
      const cookie = gatewayCookieOf(req);
      if (cookie !== undefined) res.setHeader('set-cookie', cookie);
      echo(req, res, headerObject(headers));
      return;
    }
    const slots = this.slotsFor(route);
    let held = slots.tryTake(client);
    res.on('close', () => {
      const upstream = (res as MarkedResponse)[UPSTREAM_RESPONSE];
      if (upstream !== undefined && !res.writableFinished) upstream.destroy();
      if (held) slots.release(client);
      held = false;
      onClose?.(res.statusCode);
    });
    if (held) {
      this.send(route, req, res, headers);
      return;
    }
    slots.wait(
      client,
      () => {
        // The client may have gone while it waited: the slot goes back at once.
        if (res.destroyed) slots.release(client);
        else {
          held = true;
          this.send(route, req, res, headers);
        }
      },
      () => this.hooks.onError('busy', req, res),
    );
  }

  private send(route: CompiledRoute, req: IncomingMessage, res: ServerResponse, headers: UpstreamHeaders): void {
    // What http-proxy's deleteLength pass did, minus its harm (see withoutDeleteLength): some
    // servers want a length on these two even without a body.
    const method = req.method;
    const hasBody = frames(headers);
    if ((method === 'DELETE' || method === 'OPTIONS') && !hasBody) headers.push('content-length', '0');
    // No per-request options and no callback: http-proxy then uses the route's options as they
    // are (no copy) and reports failures through the 'error' listener.
    const proxy = this.proxyFor(route);
    REQUEST_BODY.around(req, hasBody, () => proxy.web(req, res));
  }

  /**
   * Proxies a WebSocket handshake. `onUpstreamSocket` is given the upstream's socket when it
   * answered 101, before any frame is relayed (the gateway records both sockets, see open-sockets.ts).
   */
  ws(route: CompiledRoute, req: IncomingMessage, socket: Duplex, head: Buffer, onUpstreamSocket?: (upstream: Duplex) => void): void {
    if (route.config.upstream === 'builtin:echo') {
      rejectUpgrade(socket, 501, 'Not Implemented');
      return;
    }
    if (onUpstreamSocket !== undefined) (req as Marked)[ON_UPSTREAM_SOCKET] = onUpstreamSocket;
    // Upgraded connections are not pooled: a fresh connection per WebSocket.
    this.proxyFor(route).ws(req, socket, head, { agent: false }, (err) => this.fail(err, req, socket));
  }

  private fail(err: Error, req: IncomingMessage, res: ServerResponse | Duplex): void {
    const kind = (err as NodeJS.ErrnoException).code === UPSTREAM_TIMEOUT ? 'timeout' : 'unavailable';
    this.logger.debug('upstream error', { kind, code: (err as NodeJS.ErrnoException).code });
    this.hooks.onError(kind, req, res);
  }

  close(): void {
    for (const proxy of this.proxies.values()) proxy.close();
    for (const agent of this.agents) agent.destroy();
    this.proxies.clear();
    this.agents.length = 0;
  }
}

/**
 * Removes http-proxy's first web pass, `deleteLength`: on a DELETE or OPTIONS without
 * Content-Length it sets `Content-Length: 0` and deletes Transfer-Encoding, so a chunked body
 * went to the upstream unframed and was read there as a second request, with whatever
 * identity headers the client wrote into it (request smuggling past authentication). The
 * gateway keeps the framing (HeaderPolicy) and adds the zero length only to a request without
 * a body (web()). Fails closed: if http-proxy no longer has the pass where it was, no proxy
 * server is made and the route answers 500 until this is looked at again.
 */
export function withoutDeleteLength(proxy: httpProxy): void {
  const passes = (proxy as unknown as { webPasses?: Array<{ name: string }> }).webPasses;
  const index = passes?.findIndex((pass) => pass.name === 'deleteLength') ?? -1;
  if (!passes || index === -1) throw new Error('http-proxy has no deleteLength web pass: check request body framing before changing http-proxy');
  passes.splice(index, 1);
}

/**
 * Streams an upstream answer's body to the client: what `proxyRes.pipe(res)` did, with two
 * listeners where a pipe adds eight (and removes them all again at the end). Backpressure as in
 * a pipe: the upstream is paused while the client's buffer is full. A client that goes away is
 * handled by web()'s close listener, which destroys the upstream answer; a response already
 * ended or destroyed takes no more writes (a write after the end would emit an error with no
 * one to hear it).
 */
function sendBody(proxyRes: IncomingMessage, res: ServerResponse): void {
  proxyRes.on('data', (chunk: Buffer) => {
    if (res.writableEnded || res.destroyed) return;
    if (!res.write(chunk)) {
      proxyRes.pause();
      res.once('drain', () => proxyRes.resume());
    }
  });
  proxyRes.on('end', () => {
    if (!res.writableEnded && !res.destroyed) res.end();
  });
}

/** Whether a request's upstream headers give its body a length or a chunked framing. */
function frames(headers: UpstreamHeaders): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'content-length' || headers[i] === 'transfer-encoding') return true;
  return false;
}

/** `hsts`: the gateway's public_url is https (SPEC 7: every answer it writes then carries HSTS). */
export function rejectUpgrade(socket: Duplex, status: number, text: string, body = '', hsts = false): void {
  if (socket.destroyed) return;
  const strict = hsts ? 'Strict-Transport-Security: max-age=31536000\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\n${strict}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The request pipeline of the gateway listener, in one readable place:
 *   normalise → (/.auth endpoints) → route → authenticate → authorise → quota → set identity → forward
 * Every allow and deny is counted with its rule and reason; denies are logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Authentication, RequestCredentials } from '../authn/authenticate.js';
import { MISS } from '../authn/hot-path.js';
import type { Identity } from '../authn/identity.js';
import { decide, type Decision } from '../authz/rules.js';
import { PortcullisError, INVALID_LOGIN_MESSAGE } from '../errors/errors.js';
import { clearCookie } from '../http/cookies.js';
import type { ForwardOptions } from '../http/headers.js';
import { normaliseTarget } from '../http/normalise.js';
import { requestHost } from '../http/host.js';
import { isSameOrigin } from '../http/origin.js';
import type { OpenSocket } from '../proxy/open-sockets.js';
import { Forwarder, rejectUpgrade, requestIdOf, setGatewayCookie, setRequestId } from '../proxy/forwarder.js';
import { RouteTable, type CompiledRoute } from '../proxy/routes.js';
import { setUpstreamHeaders } from '../proxy/upstream-headers.js';
import type { UserRecord } from '../store/types.js';
import type { Registry } from './registry.js';
import { requestFacts, type RequestFacts } from './request-context.js';
import { redirect, sendCode, sendError, sendJson, wantsHtml } from './respond.js';
import { loginUnavailable } from '../authn/password-chain.js';

export interface AuthEndpointHandler {
  (req: IncomingMessage, res: ServerResponse, facts: RequestFacts, path: string, query: string): void;
}

export type Outcome =
  | { ok: true; identity: Identity | undefined; decision: Decision; clearCookie?: boolean }
  | { ok: false; status: number; write: (res: ServerResponse | Duplex) => void; rule: string; route: string };

export interface AuthorizeTarget {
  method: string;
  host: string;
  path: string;
  query: string;
  routeName: string;
  /** Browsers get redirects to the login and password pages instead of 401/403 JSON. */
  interactive: boolean;
}

const METHOD_RE = /^[A-Z]{1,16}$/;

/** Credentials a browser sends on its own, cross-site too: the session cookie and remembered Basic. */
const BROWSER_ATTACHED: ReadonlySet<Identity['method']> = new Set(['session', 'basic']);

export class Gateway {
  private readonly registry: Registry;
  private readonly forwarder: Forwarder;
  private readonly authEndpoints: AuthEndpointHandler;
  private readonly secureCookies: boolean;

  constructor(registry: Registry, authEndpoints: AuthEndpointHandler) {
    this.registry = registry;
    this.authEndpoints = authEndpoints;
    this.secureCookies = registry.config.server.public_url.startsWith('https:');
    this.forwarder = new Forwarder({
      logger: registry.logger,
      // Not the issuers' hand-off cookies: the external app that sets one may well sit behind the gateway.
      protectedCookies: [registry.config.session.cookie_name],
      hooks: {
        onError: (kind, req, res) => {
          const route = (req as { portcullisRoute?: string }).portcullisRoute ?? 'unknown';
          registry.metrics.upstreamErrors.inc({ route, kind });
          const requestId = requestIdOf(req);
          if ('writeHead' in res && requestId !== undefined && !res.headersSent) res.setHeader('x-request-id', requestId);
          const code = kind === 'timeout' ? 'upstream_timeout' : 'upstream_unavailable';
          if ('writeHead' in res) sendCode(res, code);
          else rejectUpgrade(res, kind === 'timeout' ? 504 : 502, kind === 'timeout' ? 'Gateway Timeout' : 'Bad Gateway');
        },
      },
    });
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const facts = requestFacts(req, this.registry.trustedProxies);
    // A request answered from the caches is handled in this call, without a promise (see process).
    try {
      const pending = this.process(req, res, facts, started);
      if (pending !== undefined) pending.catch((err: unknown) => this.crash(err, res, facts));
    } catch (err) {
      this.crash(err, res, facts);
    }
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    const facts = requestFacts(req, this.registry.trustedProxies);
    this.upgrade(req, socket, head, facts).catch((err: unknown) => {
      this.registry.logger.error('upgrade failed', { request_id: facts.request_id, err: err as Error });
      rejectUpgrade(socket, 500, 'Internal Server Error');
    });
  };

  /**
   * Every answer carries X-Request-Id. Answers the gateway writes itself get it here; a
   * forwarded answer gets it in the forwarder's single writeHead (a header set beforehand
   * would send Node down its slow path and lose repeated upstream headers).
   *
   * Returns a promise only when the request has to wait (a credential not in the caches, a quota,
   * an assertion to sign); otherwise it is forwarded or answered before this returns, and a throw
   * is the caller's to answer. Not an async function: one would cost a promise, its `.catch` and a
   * microtask on every request (see docs/benchmarks.md).
   */
  private process(req: IncomingMessage, res: ServerResponse, facts: RequestFacts, started: number): Promise<void> | undefined {
    const target = normaliseTarget(req.url ?? '', req.headers.host);
    if (!target.ok || !METHOD_RE.test(req.method ?? '')) {
      res.setHeader('x-request-id', facts.request_id);
      this.count('none', 'none', 400);
      sendCode(res, 'invalid_path', 'The request target is not acceptable');
      return;
    }
    if (target.path === '/.auth' || target.path.startsWith('/.auth/')) {
      res.setHeader('x-request-id', facts.request_id);
      res.once('finish', () => this.count('portcullis', 'portcullis', res.statusCode));
      this.authEndpoints(req, res, facts, target.path, target.query);
      return;
    }
    const requested = requestHost(req.headers, facts.peerTrusted);
    if (requested === undefined) {
      res.setHeader('x-request-id', facts.request_id);
      this.count('none', 'none', 400);
      sendCode(res, 'bad_request', facts.peerTrusted && req.headers['x-forwarded-host'] !== undefined ? 'X-Forwarded-Host is not a host name' : 'The Host header is not a host name');
      return;
    }
    const host = requested.name;
    const route = this.registry.routes.match(host, target.path);
    if (!route) {
      res.setHeader('x-request-id', facts.request_id);
      this.count('none', 'none', 404);
      sendCode(res, 'not_found', 'No route for this request');
      return;
    }
    const pending = this.authorize(req, facts, { method: req.method ?? 'GET', host, path: target.path, query: target.query, routeName: route.name, interactive: wantsHtml(req) });
    if (pending instanceof Promise) return pending.then((outcome) => this.proceed(req, res, facts, started, route, target, requested.authority, outcome));
    return this.proceed(req, res, facts, started, route, target, requested.authority, pending);
  }

  /** The rest of process once the outcome is known: the refusal, or identity headers and forwarding. */
  private proceed(req: IncomingMessage, res: ServerResponse, facts: RequestFacts, started: number, route: CompiledRoute, target: { path: string; query: string }, authority: string | undefined, outcome: Outcome): Promise<void> | undefined {
    if (!outcome.ok) {
      res.setHeader('x-request-id', facts.request_id);
      this.count(outcome.route, outcome.rule, outcome.status);
      outcome.write(res);
      return undefined;
    }
    if (outcome.clearCookie) setGatewayCookie(req, clearCookie(this.registry.config.session.cookie_name, this.secureCookies));
    const rule = outcome.decision.rule;
    const prepared = this.prepare(req, facts, route, outcome.identity, target, authority, false);
    if (prepared) return prepared.then(() => this.forward(route, rule, req, res, started));
    this.forward(route, rule, req, res, started);
    return undefined;
  }

  private forward(route: CompiledRoute, rule: string, req: IncomingMessage, res: ServerResponse, started: number): void {
    this.forwarder.web(route, req, res, (status) => {
      this.count(route.name, rule, status);
      this.registry.metrics.observeDuration(route.name, (performance.now() - started) / 1000);
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, facts: RequestFacts): Promise<void> {
    const target = normaliseTarget(req.url ?? '', req.headers.host);
    if (!target.ok || req.method !== 'GET') {
      rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    if (target.path === '/.auth' || target.path.startsWith('/.auth/')) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    const requested = requestHost(req.headers, facts.peerTrusted);
    if (requested === undefined) {
      rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    const host = requested.name;
    const route = this.registry.routes.match(host, target.path);
    if (!route) {
      rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (!route.config.websocket) {
      rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    // Only WebSocket is proxied: any other protocol (h2c, ...) gets an answer, not a silent socket.
    if (typeof req.headers.upgrade !== 'string' || req.headers.upgrade.trim().toLowerCase() !== 'websocket') {
      rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    const credentials = credentialsOf(req);
    const auth = await this.authenticate(credentials, facts);
    const outcome = await this.decideFor(auth, facts, { method: 'GET', host, path: target.path, query: target.query, routeName: route.name, interactive: false });
    if (!outcome.ok) {
      this.count(outcome.route, outcome.rule, outcome.status);
      outcome.write(socket);
      return;
    }
    // Browsers send cookies and remembered Basic credentials with a cross-site WebSocket
    // handshake, and the same-origin policy does not guard WebSocket answers: an upgrade with a
    // credential the browser attached by itself must come from our own pages. A token in a
    // header cannot be attached to a handshake by a page, so it may come from anywhere.
    if (outcome.identity !== undefined && BROWSER_ATTACHED.has(outcome.identity.method) && !isSameOrigin(req, this.registry.config.server.public_url)) {
      this.count(route.name, outcome.decision.rule, 403);
      this.denied(outcome.decision.rule, 'cross_site_websocket', outcome.identity, facts, 'GET', target.path);
      rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    const open = await this.track(credentials, auth, socket);
    if (open === undefined) {
      this.count(route.name, outcome.decision.rule, 401);
      rejectUpgrade(socket, 401, 'invalid_token', JSON.stringify(new PortcullisError('invalid_token', 'Invalid or expired token').toJSON()));
      return;
    }
    this.count(route.name, outcome.decision.rule, 101);
    await this.prepare(req, facts, route, outcome.identity, target, requested.authority, true);
    // Closed meanwhile (its credential ended while the assertion was signed): nothing to forward.
    if (open.closed) return;
    this.forwarder.ws(route, req, socket, head, (upstream) => this.registry.openSockets.attach(open, upstream));
  }

  /**
   * Records what an authorised upgrade's socket is authorised by, before anything is forwarded:
   * it is closed when that ends (SPEC 7). undefined when the credential can no longer be described.
   */
  private async track(credentials: RequestCredentials, auth: Authentication, socket: Duplex): Promise<OpenSocket | undefined> {
    if (auth.kind !== 'identity') return this.registry.openSockets.track(undefined, socket);
    const grant = await this.registry.socketGrants.grantFor(credentials, auth);
    return grant === undefined ? undefined : this.registry.openSockets.track(grant, socket);
  }

  /**
   * authenticate → authorise → password-change gate → quota; the answer when not allowed.
   * Answers without waiting when the credential is cached and the rule has no quota.
   */
  /** authenticate() from the caches when they can answer (an upgrade keeps the result for its grant). */
  private authenticate(credentials: RequestCredentials, facts: RequestFacts): Authentication | Promise<Authentication> {
    const cached = this.registry.authenticator.authenticateCached(credentials);
    return cached !== MISS ? cached : this.registry.authenticator.authenticate(credentials, facts);
  }

  authorize(req: IncomingMessage, facts: RequestFacts, target: AuthorizeTarget): Outcome | Promise<Outcome> {
    const credentials = credentialsOf(req);
    const cached = this.registry.authenticator.authenticateCached(credentials);
    if (cached !== MISS) return this.decideFor(cached, facts, target);
    return this.registry.authenticator.authenticate(credentials, facts).then((auth) => this.decideFor(auth, facts, target));
  }

  private decideFor(auth: Authentication, facts: RequestFacts, target: AuthorizeTarget): Outcome | Promise<Outcome> {
    const { registry } = this;
    const { method, host, path, query, interactive } = target;
    const routeName = target.routeName;
    if (auth.kind === 'failed') return this.authFailure(auth, routeName);
    const identity = auth.kind === 'identity' ? auth.identity : undefined;
    const user: UserRecord | undefined = auth.kind === 'identity' ? auth.user : undefined;
    const caller = identity ? { username: identity.username, roles: identity.roles, projects: identity.projects, grants: user?.grants ?? [] } : undefined;
    const decision = decide(registry.access, { method, host, path }, caller);
    // A session cookie that was no good (unknown, expired, sent twice) is cleared on any answer.
    const stale = auth.clearCookie === true;
    if (decision.effect === 'allow' && !identity?.must_change_password) {
      if (decision.quota && identity) {
        const quota = this.withinQuota(decision, decision.quota, identity, user, facts, method, path, routeName);
        return stale ? quota.then((outcome) => (outcome.ok ? { ...outcome, clearCookie: true } : outcome)) : quota;
      }
      return stale ? { ok: true, identity, decision, clearCookie: true } : { ok: true, identity, decision };
    }
    const rd = path + (query ? `?${query}` : '');
    const clear: Record<string, string> = stale ? { 'set-cookie': clearCookie(registry.config.session.cookie_name, this.secureCookies) } : {};
    if (decision.effect === 'unauthenticated') {
      registry.metrics.accessDenied.inc({ rule: decision.rule, reason: decision.reason });
      if (interactive) {
        return { ok: false, status: 302, rule: decision.rule, route: routeName, write: (res) => redirect(res as ServerResponse, 302, `/.auth/login?rd=${encodeURIComponent(rd)}`, clear) };
      }
      return this.refuse(401, routeName, decision.rule, new PortcullisError('unauthenticated', 'Authentication required'), { 'www-authenticate': 'Bearer realm="portcullis", Basic realm="portcullis", charset="UTF-8"', ...clear });
    }
    if (decision.effect === 'deny') {
      this.denied(decision.rule, decision.reason, identity, facts, method, path);
      return this.refuse(403, routeName, decision.rule, new PortcullisError('forbidden', 'Access denied'), clear);
    }
    // Allowed by the rule, but the password must be changed first.
    this.denied(decision.rule, 'password_change_required', identity, facts, method, path);
    if (interactive) {
      return { ok: false, status: 302, rule: decision.rule, route: routeName, write: (res) => redirect(res as ServerResponse, 302, `/.auth/password?rd=${encodeURIComponent(rd)}`) };
    }
    return this.refuse(403, routeName, decision.rule, new PortcullisError('password_change_required', 'You must change your password first'));
  }

  private async withinQuota(decision: Extract<Decision, { effect: 'allow' }>, quota: { requests: number; per: number }, identity: Identity, user: UserRecord | undefined, facts: RequestFacts, method: string, path: string, routeName: string): Promise<Outcome> {
    const { registry } = this;
    const { requests, per } = quota;
    // Own numbers only: a rule named `constructor` must not find Object.prototype's.
    const override = user !== undefined && Object.hasOwn(user.quotas, decision.rule) ? user.quotas[decision.rule] : undefined;
    const limit = typeof override === 'number' ? override : requests;
    const now = registry.now();
    const windowStart = Math.floor(now / per) * per;
    const used = await registry.store.incrementQuota(`${decision.rule}:${identity.username.toLowerCase()}`, windowStart);
    if (used > limit) {
      const retryAfter = String(Math.max(1, Math.ceil((windowStart + per - now) / 1000)));
      this.denied(decision.rule, 'quota_exceeded', identity, facts, method, path);
      return this.refuse(429, routeName, decision.rule, new PortcullisError('too_many_requests', 'Quota exceeded for this rule'), { 'retry-after': retryAfter });
    }
    return { ok: true, identity, decision };
  }

  /**
   * Header hygiene, identity headers, X-Forwarded-*, the assertion, and the rewritten target.
   * `authority`: the host the request was judged for, with its port (requestHost). Waits only
   * when a new assertion must be signed.
   */
  private prepare(req: IncomingMessage, facts: RequestFacts, route: CompiledRoute, identity: Identity | undefined, target: { path: string; query: string }, authority: string | undefined, upgrade: boolean): Promise<void> | undefined {
    const upstreamUrl = RouteTable.upstreamPath(route, target.path) + (target.query ? `?${target.query}` : '');
    if (!identity || this.registry.config.identity_headers.assertion === '') {
      this.rewrite(req, facts, route, identity, undefined, upstreamUrl, authority, upgrade);
      return undefined;
    }
    const assertion = this.registry.gatewayKeys.cachedAssertion(identity, route.name);
    if (assertion !== undefined) {
      this.rewrite(req, facts, route, identity, assertion, upstreamUrl, authority, upgrade);
      return undefined;
    }
    return this.registry.gatewayKeys.signAssertion(identity, route.name).then((signed) => this.rewrite(req, facts, route, identity, signed, upstreamUrl, authority, upgrade));
  }

  /**
   * The upstream is told the host the rules judged, in its normal form with the port the request
   * named: in X-Forwarded-Host, and in Host with preserve_host (a backend that matches virtual
   * hosts exactly must not serve `www.example.org.` or a trusted proxy's Host as another site).
   */
  private rewrite(req: IncomingMessage, facts: RequestFacts, route: CompiledRoute, identity: Identity | undefined, assertion: string | undefined, upstreamUrl: string, authority: string | undefined, upgrade: boolean): void {
    const { registry } = this;
    const headers = req.headers;
    let forwardedFor = facts.peer;
    let forwardedProto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
    if (facts.peerTrusted) {
      const priorFor = headers['x-forwarded-for'];
      if (typeof priorFor === 'string') forwardedFor = `${priorFor}, ${facts.peer}`;
      const proto = headers['x-forwarded-proto'];
      const first = typeof proto === 'string' ? proto.split(',')[0]?.trim() : undefined;
      if (first === 'http' || first === 'https') forwardedProto = first;
    }
    const forward: ForwardOptions = {
      passCredentials: route.config.pass_credentials,
      upgrade,
      // Without a Host from the client (HTTP/1.0), the upstream's own, as Node would have set it.
      host: route.config.preserve_host ? (authority ?? route.upstreamHost) : route.upstreamHost,
      identity,
      assertion,
      forwardedFor,
      forwardedProto,
      forwardedHost: authority,
      requestId: facts.request_id,
    };
    if (upgrade) req.headers = registry.headers.forwardHeaders(headers, forward);
    else {
      // A web request's upstream gets the list (see withUpstreamHeaderLists); its req.headers
      // are emptied.
      setUpstreamHeaders(req, registry.headers.forwardHeaderList(headers, forward));
    }
    req.url = upstreamUrl;
    setRequestId(req, facts.request_id);
    (req as { portcullisRoute?: string }).portcullisRoute = route.name;
  }

  private authFailure(auth: Extract<Authentication, { kind: 'failed' }>, route: string): Outcome {
    if (auth.status === 503) {
      return this.refuse(503, route, 'none', loginUnavailable(auth.reason));
    }
    const message = auth.scheme === 'Basic' ? INVALID_LOGIN_MESSAGE : 'Invalid or expired token';
    const code = auth.scheme === 'Basic' ? 'invalid_credentials' : 'invalid_token';
    const challenge = auth.scheme === 'Basic' ? 'Basic realm="portcullis", charset="UTF-8"' : 'Bearer realm="portcullis", error="invalid_token"';
    return this.refuse(401, route, 'none', new PortcullisError(code, message), { 'www-authenticate': challenge });
  }

  private refuse(status: number, route: string, rule: string, error: PortcullisError, headers: Record<string, string> = {}): Outcome {
    return {
      ok: false,
      status,
      rule,
      route,
      write: (res) => {
        if ('writeHead' in res) sendError(res, error, headers);
        else rejectUpgrade(res, status, error.code, JSON.stringify(error.toJSON()));
      },
    };
  }

  private denied(rule: string, reason: string, identity: Identity | undefined, facts: RequestFacts, method: string, path: string): void {
    this.registry.metrics.accessDenied.inc({ rule, reason });
    this.registry.events.emit('AccessDenied', identity?.username ?? '', { rule, reason, granted: false, method, path: path.slice(0, 512) }, facts);
  }

  private count(route: string, rule: string, status: number): void {
    this.registry.metrics.countRequest(route, rule, status);
  }

  private crash(err: unknown, res: ServerResponse, facts: RequestFacts): void {
    if (!res.headersSent) res.setHeader('x-request-id', facts.request_id);
    if (err instanceof PortcullisError && err.expose) {
      sendError(res, err);
      return;
    }
    const code = err instanceof PortcullisError ? err.code : 'internal_error';
    this.registry.logger.error('request failed', { request_id: facts.request_id, err: err as Error });
    if (res.headersSent) res.destroy();
    else sendCode(res, code);
  }

  close(): void {
    this.forwarder.close();
  }
}

function credentialsOf(req: IncomingMessage): RequestCredentials {
  return { xAuthentication: header(req, 'x-authentication'), authorization: header(req, 'authorization'), cookie: header(req, 'cookie') };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

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
import { BUDGET_WINDOW, quotaKey } from '../authz/budgets.js';
import type { ConditionInput } from '../authz/conditions.js';
import { decide, type Decision, type Quota } from '../authz/rules.js';
import { bodyView } from '../authz/body-view.js';
import { foldPathCase } from '../authz/matcher.js';
import { scopeAllows } from '../authz/token-scope.js';
import { PortcullisError } from '../errors/errors.js';
import { clearCookie } from '../http/cookies.js';
import type { ForwardOptions } from '../http/headers.js';
import { carriesBody, carriesForm, readInspectedBody, type InspectedBody } from '../http/inspected-body.js';
import { normaliseTarget } from '../http/normalise.js';
import { takeQueryCredentials } from '../http/ingest-credentials.js';
import { holdsMethodOverride, multipartHoldsMethodOverride, refusedRequest, type RequestRefusal } from '../http/request-guards.js';
import { requestHost } from '../http/host.js';
import { isSameOrigin } from '../http/origin.js';
import type { OpenSocket } from '../proxy/open-sockets.js';
import { Forwarder, rejectUpgrade as rejectUpgradeWith, requestIdOf, setGatewayCookie, setRequestId } from '../proxy/forwarder.js';
import { inspectedBodyOf, setInspectedBody } from '../proxy/request-body.js';
import { RouteTable, type CompiledRoute } from '../proxy/routes.js';
import { setUpstreamHeaders } from '../proxy/upstream-headers.js';
import { setUpstreamCredential, upstreamCredentialOf } from '../proxy/upstream-credentials.js';
import { clientKey } from '../http/client-ip.js';
import type { UserRecord } from '../store/types.js';
import type { Registry } from './registry.js';
import { requestFacts, type RequestFacts } from '../http/request-facts.js';
import { redirect, sendCode, sendError, wantsHtml } from './respond.js';
import { authenticationFailure } from '../authn/failure.js';

export type AuthEndpointHandler = (req: IncomingMessage, res: ServerResponse, facts: RequestFacts, path: string, query: string) => void;

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
  /** The route matches paths case-insensitively (`path` is folded, see matchedPath). */
  foldCase?: boolean;
}

const METHOD_RE = /^[A-Z]{1,16}$/;

/** Credentials a browser sends on its own, cross-site too: the session cookie and remembered Basic. */
const BROWSER_ATTACHED: ReadonlySet<Identity['method']> = new Set(['session', 'basic']);

export class Gateway {
  private readonly registry: Registry;
  private readonly forwarder: Forwarder;
  private readonly authEndpoints: AuthEndpointHandler;
  private readonly secureCookies: boolean;
  /** Headers every answer the gateway writes itself carries (not an upstream's): SPEC 7. */
  private readonly ownHeaders: ReadonlyArray<readonly [string, string]>;
  /** Whether any rule has conditions (only then does a request carry what they read). */
  private readonly conditionsUsed: boolean;

  constructor(registry: Registry, authEndpoints: AuthEndpointHandler) {
    this.registry = registry;
    this.authEndpoints = authEndpoints;
    this.secureCookies = registry.config.server.public_url.startsWith('https:');
    this.ownHeaders = gatewayAnswerHeaders(this.secureCookies);
    this.conditionsUsed = registry.access.rules.some((rule) => rule.conditions !== undefined);
    this.forwarder = new Forwarder({
      logger: registry.logger,
      // Not the issuers' hand-off cookies: the external app that sets one may well sit behind the gateway.
      protectedCookies: [registry.config.session.cookie_name],
      maxPerClient: registry.config.server.max_upstream_sockets_per_client,
      hooks: {
        onError: (kind, req, res) => {
          const route = (req as { portcullisRoute?: string }).portcullisRoute ?? 'unknown';
          registry.metrics.upstreamErrors.inc({ route, kind });
          const requestId = requestIdOf(req);
          if ('writeHead' in res && !res.headersSent) {
            if (requestId !== undefined) res.setHeader('x-request-id', requestId);
            for (const [name, value] of this.ownHeaders) res.setHeader(name, value);
          }
          const code = kind === 'timeout' ? 'upstream_timeout' : kind === 'busy' ? 'upstream_busy' : 'upstream_unavailable';
          if ('writeHead' in res) sendCode(res, code, undefined, kind === 'busy' ? { 'retry-after': '1' } : {});
          else this.rejectUpgrade(res, kind === 'timeout' ? 504 : 502, kind === 'timeout' ? 'Gateway Timeout' : 'Bad Gateway');
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
      this.rejectUpgrade(socket, 500, 'Internal Server Error');
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
    // Before authentication and whatever the route (SPEC 5, 6).
    const refused = refusedRequest(req, target.ok ? target.query : '', this.registry.config.server.max_header_count);
    if (refused !== undefined) {
      this.answerOwn(res, facts);
      this.count('none', 'none', refused === 'too_many_headers' ? 431 : refused === 'method_not_allowed' ? 405 : 400);
      sendCode(res, refused, REFUSAL_MESSAGES[refused], refused === 'too_many_headers' ? { connection: 'close' } : {});
      return;
    }
    if (!target.ok || !METHOD_RE.test(req.method ?? '')) {
      this.answerOwn(res, facts);
      this.count('none', 'none', 400);
      sendCode(res, 'invalid_path', 'The request target is not acceptable');
      return;
    }
    if (target.path === '/.auth' || target.path.startsWith('/.auth/')) {
      this.answerOwn(res, facts);
      res.once('finish', () => this.count('portcullis', 'portcullis', res.statusCode));
      this.authEndpoints(req, res, facts, target.path, target.query);
      return;
    }
    const requested = requestHost(req.headers, facts.peerTrusted);
    if (requested === undefined) {
      this.answerOwn(res, facts);
      this.count('none', 'none', 400);
      sendCode(res, 'bad_request', facts.peerTrusted && req.headers['x-forwarded-host'] !== undefined ? 'X-Forwarded-Host is not a host name' : 'The Host header is not a host name');
      return;
    }
    const host = requested.name;
    const route = this.registry.routes.match(host, target.path);
    if (!route) {
      this.answerOwn(res, facts);
      this.count('none', 'none', 404);
      sendCode(res, 'not_found', 'No route for this request');
      return;
    }
    if (route.config.query_credentials) target.query = queryCredentials(req, target.query);
    const pending = this.authorize(req, facts, {
      method: req.method ?? 'GET',
      host,
      path: matchedPath(route, target.path),
      query: target.query,
      routeName: route.name,
      interactive: wantsHtml(req),
      foldCase: route.config.case_insensitive_paths,
    });
    if (pending instanceof Promise) return pending.then((outcome) => this.proceed(req, res, facts, started, route, target, requested.authority, outcome));
    return this.proceed(req, res, facts, started, route, target, requested.authority, pending);
  }

  /** The rest of process once the outcome is known: the refusal, or identity headers and forwarding. */
  private proceed(
    req: IncomingMessage,
    res: ServerResponse,
    facts: RequestFacts,
    started: number,
    route: CompiledRoute,
    target: { path: string; query: string },
    authority: string | undefined,
    outcome: Outcome,
  ): Promise<void> | undefined {
    if (!outcome.ok) {
      this.answerOwn(res, facts);
      this.count(outcome.route, outcome.rule, outcome.status);
      outcome.write(res);
      return undefined;
    }
    if (outcome.clearCookie) setGatewayCookie(req, clearCookie(this.registry.config.session.cookie_name, this.secureCookies));
    const rule = outcome.decision.rule;
    const forwardPrepared = (): Promise<void> | undefined => {
      const prepared = this.prepare(req, facts, route, outcome.identity, target, authority, false);
      if (prepared) return prepared.then(() => this.forward(route, rule, req, res, started, facts));
      this.forward(route, rule, req, res, started, facts);
      return undefined;
    };
    const refuseCredential = (): undefined => {
      this.answerOwn(res, facts);
      this.count(route.name, rule, 403);
      this.noUpstreamCredential(rule, outcome.identity, facts, req.method ?? 'GET', target.path).write(res);
      return undefined;
    };
    // SPEC 15: the backend's own credential, or 403 and nothing forwarded.
    const send = (): Promise<void> | undefined => {
      const made = this.upstreamCredential(req, route, outcome.identity);
      if (made instanceof Promise) return made.then((ok) => (ok ? forwardPrepared() : refuseCredential()));
      return made ? forwardPrepared() : refuseCredential();
    };
    // A body partly read for a condition that then could not judge it cannot be forwarded whole.
    if ((req as { portcullisBodyLost?: boolean }).portcullisBodyLost) {
      this.answerOwn(res, facts);
      this.count(route.name, rule, 400);
      sendCode(res, 'body_not_inspectable', 'The body is longer than server.max_inspect_body', { connection: 'close' });
      return undefined;
    }
    // A form body is read (bounded) and checked for `_method` before any byte of it is forwarded.
    if (carriesForm(req)) return this.inspectForm(req, res, facts, route.name, rule).then((passed) => (passed ? send() : undefined));
    return send();
  }

  /** Reads a form body for `_method` (SPEC 5): false when the request was answered 400 instead. */
  private async inspectForm(req: IncomingMessage, res: ServerResponse, facts: RequestFacts, route: string, rule: string): Promise<boolean> {
    const read = await this.inspectBody(req);
    const refusal = !read.ok ? 'body_not_inspectable' : formRefusal(String(req.headers['content-type']), read.body.toString('latin1'));
    if (refusal === undefined) return true;
    this.answerOwn(res, facts);
    this.count(route, rule, 400);
    if (!read.ok && read.reason === 'aborted') res.destroy();
    else sendCode(res, refusal, refusal === 'method_override' ? REFUSAL_MESSAGES.method_override : 'The form body is too large or encoded to be inspected', { connection: 'close' });
    return false;
  }

  /**
   * The request's body, read once (bounded by server.max_inspect_body) and kept for the upstream,
   * which receives it byte-identical (request-body.ts). A refusal after part of it was read leaves
   * a request that can no longer be forwarded: the caller answers it.
   */
  private async inspectBody(req: IncomingMessage): Promise<InspectedBody> {
    const kept = inspectedBodyOf(req);
    if (kept !== undefined) return { ok: true, body: kept };
    const read = await readInspectedBody(req, this.registry.config.server.max_inspect_body);
    if (read.ok) setInspectedBody(req, read.body);
    else if (read.consumed) (req as { portcullisBodyLost?: boolean }).portcullisBodyLost = true;
    return read;
  }

  /** Gives body and sql conditions their view of the body (SPEC 5): read only when a rule asks. */
  private async readBodyFor(req: IncomingMessage, input: ConditionInput): Promise<void> {
    if (!carriesBody(req)) {
      input.body = { kind: 'none' };
      return;
    }
    const read = await this.inspectBody(req);
    input.body = read.ok ? bodyView(req.headers['content-type'], read.body) : { kind: 'unevaluable' };
  }

  /** A refused WebSocket handshake, with the headers of the gateway's own answers. */
  private rejectUpgrade(socket: Duplex, status: number, text: string, body = ''): void {
    rejectUpgradeWith(socket, status, text, body, this.secureCookies);
  }

  /** Marks an answer the gateway writes itself: its request id and the headers of SPEC 7. */
  private answerOwn(res: ServerResponse, facts: RequestFacts): void {
    res.setHeader('x-request-id', facts.request_id);
    for (const [name, value] of this.ownHeaders) res.setHeader(name, value);
  }

  private forward(route: CompiledRoute, rule: string, req: IncomingMessage, res: ServerResponse, started: number, facts: RequestFacts): void {
    this.forwarder.web(route, req, res, clientKey(facts.ip), (status) => {
      this.count(route.name, rule, status);
      this.registry.metrics.observeDuration(route.name, (performance.now() - started) / 1000);
    });
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, facts: RequestFacts): Promise<void> {
    const target = normaliseTarget(req.url ?? '', req.headers.host);
    const refused = refusedRequest(req, target.ok ? target.query : '', this.registry.config.server.max_header_count);
    if (refused !== undefined) {
      const status = refused === 'too_many_headers' ? 431 : refused === 'method_not_allowed' ? 405 : 400;
      this.count('none', 'none', status);
      this.rejectUpgrade(socket, status, refused, JSON.stringify(new PortcullisError(refused, REFUSAL_MESSAGES[refused]).toJSON()));
      return;
    }
    if (!target.ok || req.method !== 'GET') {
      this.rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    if (target.path === '/.auth' || target.path.startsWith('/.auth/')) {
      this.rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    const requested = requestHost(req.headers, facts.peerTrusted);
    if (requested === undefined) {
      this.rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    const host = requested.name;
    const route = this.registry.routes.match(host, target.path);
    if (!route) {
      this.rejectUpgrade(socket, 404, 'Not Found');
      return;
    }
    if (route.config.query_credentials) target.query = queryCredentials(req, target.query);
    if (!route.config.websocket) {
      this.rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    // Only WebSocket is proxied: any other protocol (h2c, ...) gets an answer, not a silent socket.
    if (typeof req.headers.upgrade !== 'string' || req.headers.upgrade.trim().toLowerCase() !== 'websocket') {
      this.rejectUpgrade(socket, 400, 'Bad Request');
      return;
    }
    const credentials = credentialsOf(req);
    const auth = await this.authenticate(credentials, facts);
    const upgradeTarget: AuthorizeTarget = {
      method: 'GET',
      host,
      path: matchedPath(route, target.path),
      query: target.query,
      routeName: route.name,
      interactive: false,
      foldCase: route.config.case_insensitive_paths,
    };
    const outcome = await this.decideFor(auth, facts, upgradeTarget, req, this.conditionInput(req, facts, upgradeTarget));
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
      this.rejectUpgrade(socket, 403, 'Forbidden');
      return;
    }
    if (!(await this.upstreamCredential(req, route, outcome.identity))) {
      this.count(route.name, outcome.decision.rule, 403);
      this.noUpstreamCredential(outcome.decision.rule, outcome.identity, facts, 'GET', target.path).write(socket);
      return;
    }
    const open = await this.track(credentials, auth, socket);
    if (open === undefined) {
      this.count(route.name, outcome.decision.rule, 401);
      this.rejectUpgrade(socket, 401, 'invalid_token', JSON.stringify(new PortcullisError('invalid_token', 'Invalid or expired token').toJSON()));
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

  /** authenticate() from the caches when they can answer (an upgrade keeps the result for its grant). */
  private authenticate(credentials: RequestCredentials, facts: RequestFacts): Authentication | Promise<Authentication> {
    const cached = this.registry.authenticator.authenticateCached(credentials);
    return cached !== MISS ? cached : this.registry.authenticator.authenticate(credentials, facts);
  }

  /** Only when a rule has conditions: what they read of the request (the body once one asks). */
  private conditionInput(req: IncomingMessage, facts: RequestFacts, target: AuthorizeTarget): ConditionInput | undefined {
    return this.conditionsUsed ? { query: target.query, rawHeaders: req.rawHeaders, client: facts.ip, body: undefined } : undefined;
  }

  /**
   * authenticate → authorise → password-change gate → quota; the answer when not allowed.
   * Answers without waiting when the credential is cached and the rule has no quota.
   */
  authorize(req: IncomingMessage, facts: RequestFacts, target: AuthorizeTarget): Outcome | Promise<Outcome> {
    const credentials = credentialsOf(req);
    const input = this.conditionInput(req, facts, target);
    const cached = this.registry.authenticator.authenticateCached(credentials);
    if (cached !== MISS) return this.decideFor(cached, facts, target, req, input);
    return this.registry.authenticator.authenticate(credentials, facts).then((auth) => this.decideFor(auth, facts, target, req, input));
  }

  private decideFor(auth: Authentication, facts: RequestFacts, target: AuthorizeTarget, req: IncomingMessage, input: ConditionInput | undefined): Outcome | Promise<Outcome> {
    const { registry } = this;
    const { method, host, path, query, interactive } = target;
    const routeName = target.routeName;
    if (auth.kind === 'failed') return this.authFailure(auth, routeName);
    const identity = auth.kind === 'identity' ? auth.identity : undefined;
    const user: UserRecord | undefined = auth.kind === 'identity' ? auth.user : undefined;
    const caller = identity ? { username: identity.username, roles: identity.roles, projects: identity.projects, grants: user?.grants ?? [], attributes: identity.attributes } : undefined;
    const decision = decide(registry.access, { method, host, path, conditions: input, foldCase: target.foldCase === true }, caller);
    if (decision.effect === 'needs_body' && input !== undefined) return this.readBodyFor(req, input).then(() => this.decideFor(auth, facts, target, req, input));
    if (decision.effect === 'unevaluable' || decision.effect === 'needs_body') {
      this.denied(decision.rule, decision.effect === 'needs_body' ? 'condition_not_evaluable' : decision.reason, identity, facts, method, path);
      const code = decision.effect === 'unevaluable' ? decision.reason : 'condition_not_evaluable';
      return this.refuse(
        400,
        routeName,
        decision.rule,
        new PortcullisError(
          code,
          code === 'body_not_inspectable'
            ? 'The body cannot be inspected: a JSON object or form of at most server.max_inspect_body, not compressed'
            : 'A condition of the matching rule cannot be evaluated for this request',
        ),
        { connection: 'close' },
      );
    }
    // A session cookie that was no good (unknown, expired, sent twice) is cleared on any answer.
    const stale = auth.clearCookie === true;
    if (decision.effect === 'allow' && !identity?.must_change_password) {
      // A scoped token reaches what both its user and its scope allow (SPEC 8).
      if (auth.kind === 'identity' && auth.scope !== undefined && !scopeAllows(auth.scope, method, path, { username: auth.identity.username, projects: auth.identity.projects })) {
        this.denied(decision.rule, 'token_scope', identity, facts, method, path);
        return this.refuse(403, routeName, decision.rule, new PortcullisError('token_scope', 'Outside the scope of this token'));
      }
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
      return this.refuse(401, routeName, decision.rule, new PortcullisError('unauthenticated', 'Authentication required'), {
        'www-authenticate': 'Bearer realm="portcullis", Basic realm="portcullis", charset="UTF-8"',
        ...clear,
      });
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

  private async withinQuota(
    decision: Extract<Decision, { effect: 'allow' }>,
    quota: Quota,
    identity: Identity,
    user: UserRecord | undefined,
    facts: RequestFacts,
    method: string,
    path: string,
    routeName: string,
  ): Promise<Outcome> {
    const { registry } = this;
    const { requests, per } = quota;
    // Own numbers only: a rule named `constructor` must not find Object.prototype's.
    const override = user !== undefined && Object.hasOwn(user.quotas, decision.rule) ? user.quotas[decision.rule] : undefined;
    const limit = typeof override === 'number' ? override : requests;
    const key = quotaKey(decision.rule, identity.username);
    if (per === undefined) {
      // A budget: counted down across replicas, never reset by itself (an admin's PATCH of quotas does).
      const spent = await registry.store.incrementQuota(key, BUDGET_WINDOW);
      if (spent <= limit) return { ok: true, identity, decision };
      this.denied(decision.rule, 'budget_exhausted', identity, facts, method, path);
      return this.refuse(429, routeName, decision.rule, new PortcullisError('budget_exhausted', 'The budget for this rule is spent'));
    }
    const now = registry.now();
    const windowStart = Math.floor(now / per) * per;
    const used = await registry.store.incrementQuota(key, windowStart);
    if (used > limit) {
      const retryAfter = String(Math.max(1, Math.ceil((windowStart + per - now) / 1000)));
      this.denied(decision.rule, 'quota_exceeded', identity, facts, method, path);
      return this.refuse(429, routeName, decision.rule, new PortcullisError('too_many_requests', 'Quota exceeded for this rule'), { 'retry-after': retryAfter });
    }
    return { ok: true, identity, decision };
  }

  /**
   * The route's upstream credential for this caller (SPEC 15), kept on the request for rewrite():
   * true when there is one or the route needs none, false when none can be made.
   */
  private upstreamCredential(req: IncomingMessage, route: CompiledRoute, identity: Identity | undefined): boolean | Promise<boolean> {
    const { upstreamAuth } = this.registry;
    if (!upstreamAuth.has(route.name)) return true;
    const made = upstreamAuth.credentialFor(route.name, identity);
    if (made instanceof Promise) return made.then((credential) => setUpstreamCredential(req, credential));
    return setUpstreamCredential(req, made);
  }

  private noUpstreamCredential(rule: string, identity: Identity | undefined, facts: RequestFacts, method: string, path: string): Extract<Outcome, { ok: false }> {
    this.denied(rule, 'no_upstream_credential', identity, facts, method, path);
    return this.refuse(403, 'none', rule, new PortcullisError('no_upstream_credential', 'No credential for the backend of this route')) as Extract<Outcome, { ok: false }>;
  }

  /**
   * Header hygiene, identity headers, X-Forwarded-*, the assertion, and the rewritten target.
   * `authority`: the host the request was judged for, with its port (requestHost). Waits only
   * when a new assertion must be signed.
   */
  private prepare(
    req: IncomingMessage,
    facts: RequestFacts,
    route: CompiledRoute,
    identity: Identity | undefined,
    target: { path: string; query: string },
    authority: string | undefined,
    upgrade: boolean,
  ): Promise<void> | undefined {
    const upstreamUrl = RouteTable.upstreamPath(route, target.path) + (target.query ? `?${target.query}` : '');
    if (!identity || this.registry.config.identity_headers.assertion === '' || !route.config.identity_headers) {
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
  private rewrite(
    req: IncomingMessage,
    facts: RequestFacts,
    route: CompiledRoute,
    identity: Identity | undefined,
    assertion: string | undefined,
    upstreamUrl: string,
    authority: string | undefined,
    upgrade: boolean,
  ): void {
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
      upstreamCredential: upstreamCredentialOf(req),
      identityHeaders: route.config.identity_headers,
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
    const error = authenticationFailure(auth);
    return this.refuse(error.status, route, 'none', error);
  }

  private refuse(status: number, route: string, rule: string, error: PortcullisError, headers: Record<string, string> = {}): Outcome {
    return {
      ok: false,
      status,
      rule,
      route,
      write: (res) => {
        if ('writeHead' in res) sendError(res, error, headers);
        else this.rejectUpgrade(res, status, error.code, JSON.stringify(error.toJSON()));
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
    if (!res.headersSent) this.answerOwn(res, facts);
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

const REFUSAL_MESSAGES: Record<RequestRefusal, string> = {
  too_many_headers: 'The request has too many header fields',
  method_not_allowed: 'This method is never accepted',
  method_override: 'A _method parameter or form field is not accepted: use the request method',
};

/** SPEC 7: every answer the gateway writes carries these (HSTS only when public_url is https). */
function gatewayAnswerHeaders(https: boolean): Array<readonly [string, string]> {
  const headers: Array<readonly [string, string]> = [
    ['x-content-type-options', 'nosniff'],
    ['referrer-policy', 'same-origin'],
  ];
  if (https) headers.push(['strict-transport-security', 'max-age=31536000']);
  return headers;
}

/**
 * The path the rules see: the normalised path, folded on a route with `case_insensitive_paths`
 * (lower case, escapes in upper-case hex; the rules' patterns are folded alike).
 */
export function matchedPath(route: CompiledRoute, path: string): string {
  return route.config.case_insensitive_paths ? foldPathCase(path) : path;
}

/**
 * SPEC 3: InfluxDB v1's `u`/`p` read as Basic (when the request names no other credential) and
 * removed from the query everything after this sees and forwards. Returns the query without them.
 */
function queryCredentials(req: IncomingMessage, query: string): string {
  const taken = takeQueryCredentials(query);
  if (taken.query === query) return query;
  if (taken.authorization !== undefined && req.headers.authorization === undefined && req.headers['x-authentication'] === undefined) req.headers.authorization = taken.authorization;
  const url = req.url ?? '';
  const mark = url.indexOf('?');
  req.url = (mark === -1 ? url : url.slice(0, mark)) + (taken.query === '' ? '' : `?${taken.query}`);
  return taken.query;
}

/** Why a form body is refused (SPEC 5), or undefined: a `_method` field, or multipart that cannot be judged. */
function formRefusal(contentType: string, body: string): 'method_override' | 'body_not_inspectable' | undefined {
  if (/^\s*multipart\//i.test(contentType)) {
    const holds = multipartHoldsMethodOverride(contentType, body);
    return holds === undefined ? 'body_not_inspectable' : holds ? 'method_override' : undefined;
  }
  return holdsMethodOverride(body) ? 'method_override' : undefined;
}

function credentialsOf(req: IncomingMessage): RequestCredentials {
  return { xAuthentication: header(req, 'x-authentication'), authorization: header(req, 'authorization'), cookie: header(req, 'cookie') };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * The gateway's own endpoints under /.auth/ (SPEC 7), never forwarded upstream. An express
 * app behind the gateway listener; the request arrives with its normalised path and facts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { EndpointContext, EndpointRequest } from '../api/api-context.js';
import { createApiRouter } from '../api/router.js';
import type { Authentication } from '../authn/authenticate.js';
import { identityOf } from '../authn/identity-of.js';
import { federateUser } from '../authn/federation.js';
import { identityJson, type AuthMethod } from '../authn/identity.js';
import { parseDuration } from '../config/duration.js';
import { INVALID_LOGIN_MESSAGE, PortcullisError, toPortcullisError } from '../errors/errors.js';
import { decodeBasicCredentials } from '../http/basic-auth.js';
import { clearCookie, readCookie, serialiseCookie } from '../http/cookies.js';
import { requestHost } from '../http/host.js';
import { normaliseTarget } from '../http/normalise.js';
import { comesFrom, isSameOrigin, originOf } from '../http/origin.js';
import { settleWithin } from '../observability/settle-within.js';
import type { UserRecord } from '../store/types.js';
import { adminAssets, adminPage } from '../ui/admin-page.js';
import { STYLE_CSS } from '../ui/html.js';
import { expiredPasswordPage, loginPage, messagePage, passwordPage } from '../ui/login-page.js';
import { matchedPath, type Gateway } from './gateway.js';
import type { Registry } from './registry.js';
import type { RequestFacts } from '../http/request-facts.js';
import { redirect, safeRedirectTarget, sendError, sendHtml, sendJson, wantsHtml } from './respond.js';
import { DEFAULT_TOKEN_LIFETIME_MS, MAX_TOKEN_LIFETIME_MS } from '../authn/api-tokens.js';
import { authenticationFailure } from '../authn/failure.js';
import { loginRefusal, loginUnavailable } from '../authn/password-chain.js';

/**
 * Whether the query of a request target holds a NUL, as `%00` (what the query parser decodes
 * to one) or as the character itself: read from the raw text, since Express parses req.query
 * anew on every read.
 */
function queryHoldsNul(url: string): boolean {
  const q = url.indexOf('?');
  return q !== -1 && (url.includes('%00', q) || url.includes('\u0000', q));
}

/** Whether a parsed JSON or form body holds a NUL character in any string, key or value (depth-bounded by the body limit). */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (typeof value !== 'object' || value === null || depth > 64) return false;
  for (const key of Object.keys(value)) {
    if (key.includes('\u0000') || holdsNul((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

export function createAuthEndpoints(registry: Registry, gatewayRef: () => Gateway): (req: IncomingMessage, res: ServerResponse, facts: RequestFacts, path: string, query: string) => void {
  const { config } = registry;
  const secure = config.server.public_url.startsWith('https:');
  const cookieName = config.session.cookie_name;
  const limit = config.server.max_body_size;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('trust proxy', false);
  app.set('query parser', 'simple');
  // PostgreSQL cannot store or compare U+0000 in text: refused here, once, as a client error
  // (it used to reach the store as a 500 and an error log line anyone could write).
  const refuseNul = (req: Request, _res: Response, next: NextFunction): void => {
    if (queryHoldsNul(req.url) || holdsNul(req.body)) throw new PortcullisError('bad_request', 'Text must not contain NUL characters');
    next();
  };
  const readBodies = [express.json({ limit, strict: true, type: ['application/json', 'application/*+json'] }), express.urlencoded({ limit, extended: false, parameterLimit: 50 }), refuseNul];
  // The API reads its bodies itself, once the caller is authorised (SPEC 8): a caller without
  // the right gets its 401/403 whatever it sent.
  const api = createApiRouter(registry, readBodies);
  const bodies = express.Router().use(readBodies);
  app.use((req: Request, res: Response, next: NextFunction) => (req.path === '/.auth/api' || req.path.startsWith('/.auth/api/') ? next() : bodies(req, res, next)));

  const ctx = (req: Request): EndpointContext => (req as EndpointRequest).portcullis;
  const sessionCookie = (id: string): string => serialiseCookie(cookieName, id, { secure, maxAgeSeconds: config.session.max_lifetime / 1000 });

  /** Creates a fresh session (the old one, if any, is ended first: no fixation). */
  async function startSession(req: Request, res: Response, user: UserRecord, method: AuthMethod): Promise<void> {
    const old = readCookie(req.headers.cookie, cookieName);
    if (old.value) await registry.sessions.destroy(old.value).catch(() => undefined);
    const session = await registry.sessions.create(user, method);
    res.append('set-cookie', sessionCookie(session.id));
  }

  app.get('/.auth/healthz', (_req, res) => {
    sendJson(res, 200, { status: 'ok' });
  });

  // A store that stopped answering is not ready: the ping gets its own short deadline (the
  // store's query deadline is longer, and a probe left hanging is a probe that never fails).
  app.get('/.auth/readyz', async (_req, res) => {
    try {
      if (!registry.ready) throw new Error('shutting down');
      const ping = registry.store.ping();
      if ((await settleWithin(ping, 2_000)) === 'late') throw new Error('store ping timed out');
      await ping; // answered in time, but with an error: not ready either
      sendJson(res, 200, { status: 'ready' });
    } catch {
      sendJson(res, 503, { status: 'not_ready' });
    }
  });

  app.get('/.auth/assets/style.css', (_req, res) => {
    res.set({ 'content-type': 'text/css; charset=utf-8', 'cache-control': 'public, max-age=300' }).send(STYLE_CSS);
  });
  for (const [name, body] of Object.entries(adminAssets)) {
    app.get(`/.auth/assets/${name}`, (_req, res) => {
      res.set({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' }).send(body);
    });
  }

  app.get('/.auth/jwks.json', (_req, res) => {
    sendJson(res, 200, registry.gatewayKeys.jwks(), { 'cache-control': 'public, max-age=60' });
  });

  app.get('/.auth/login', (req, res) => {
    sendHtml(res, 200, loginPage({ rd: safeRedirectTarget(req.query.rd) }));
  });

  app.post('/.auth/login', async (req, res) => {
    const json = Boolean(req.is('application/json'));
    const body = (req.body ?? {}) as Record<string, unknown>;
    const rd = safeRedirectTarget(body.rd ?? req.query.rd);
    if (!isSameOrigin(req, config.server.public_url)) {
      sendError(res, new PortcullisError('csrf_rejected', 'Cross-site login refused'));
      return;
    }
    let result = await registry.passwords.verify(body.username, body.password, 'form', ctx(req).facts);
    // An expired directory password, proven right: the form changes it, then signs in (SPEC 18).
    if (!result.ok && result.reason === 'password_expired' && result.verified && !json) {
      const username = typeof body.username === 'string' ? body.username.slice(0, 256) : '';
      if (typeof body.new_password !== 'string' || body.new_password === '' || !registry.directory) {
        sendHtml(res, 401, expiredPasswordPage({ rd, username }));
        return;
      }
      const account = registry.directory.accountName(username) ?? username;
      const changed = await registry.directory.changeExpiredPassword(account, String(body.password), body.new_password).catch(() => false);
      if (!changed) {
        sendHtml(res, 401, expiredPasswordPage({ rd, username, error: "The directory did not accept the new password. Check the current one and the directory's password rules." }));
        return;
      }
      registry.events.emit('PasswordChanged', account, { actor: account, source: 'ldap' }, ctx(req).facts);
      result = await registry.passwords.verify(username, body.new_password, 'form', ctx(req).facts);
    }
    if (!result.ok) {
      if (json) {
        if (result.status === 503) sendError(res, loginUnavailable(result.reason));
        else sendError(res, loginRefusal(result));
        return;
      }
      const message =
        result.status !== 503
          ? INVALID_LOGIN_MESSAGE
          : result.reason === 'overloaded'
            ? 'Too many logins at the moment. Please try again shortly.'
            : 'The directory is unavailable. Please try again later.';
      sendHtml(res, result.status, loginPage({ rd, error: message, username: typeof body.username === 'string' ? body.username.slice(0, 256) : '' }));
      return;
    }
    await startSession(req, res, result.user, 'form');
    if (json) {
      sendJson(res, 200, { user: identityJson(identityOf(result.user, 'form')) });
      return;
    }
    const next = result.user.must_change_password ? `/.auth/password?rd=${encodeURIComponent(rd)}` : rd;
    redirect(res, 303, next);
  });

  app.post('/.auth/logout', async (req, res) => {
    if (!isSameOrigin(req, config.server.public_url)) {
      sendError(res, new PortcullisError('csrf_rejected', 'Cross-site logout refused'));
      return;
    }
    const cookie = readCookie(req.headers.cookie, cookieName);
    const session = cookie.value ? await registry.sessions.destroy(cookie.value) : undefined;
    if (session) registry.events.emit('UserLoggedOut', session.username, { method: 'session' }, ctx(req).facts);
    const headers = { 'set-cookie': clearCookie(cookieName, secure) };
    if (wantsHtml(req) || req.is('application/x-www-form-urlencoded')) redirect(res, 303, '/.auth/login', headers);
    else {
      res.writeHead(204, { ...headers, 'cache-control': 'no-store' });
      res.end();
    }
  });

  app.get('/.auth/me', async (req, res) => {
    const auth = await ctx(req).auth();
    if (auth.kind !== 'identity') {
      const error =
        auth.kind === 'failed' ? authenticationFailure(auth) : new PortcullisError('unauthenticated', 'Authentication required', { headers: { 'www-authenticate': 'Bearer realm="portcullis"' } });
      sendError(res, error, auth.kind === 'none' && auth.clearCookie ? { 'set-cookie': clearCookie(cookieName, secure) } : {});
      return;
    }
    sendJson(res, 200, identityJson(auth.identity));
  });

  app.post('/.auth/token', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    let username: unknown = body.username;
    let password: unknown = body.password;
    let method: AuthMethod = 'form';
    const authorization = req.headers.authorization;
    if (typeof authorization === 'string' && /^basic /i.test(authorization)) {
      // A browser sends Basic credentials it once answered a challenge with to any page's
      // request: a cross-site one must not mint tokens in the victim's name (or spend the cap).
      if (!isSameOrigin(req, config.server.public_url)) {
        sendError(res, new PortcullisError('csrf_rejected', 'Cross-site token requests with Basic are refused'));
        return;
      }
      const credentials = decodeBasicCredentials(authorization.slice(6).trim());
      username = credentials?.username ?? '';
      password = credentials?.password ?? '';
      method = 'basic';
    }
    let lifetime = DEFAULT_TOKEN_LIFETIME_MS;
    if (body.expires_in !== undefined) {
      const parsed = typeof body.expires_in === 'string' ? parseDuration(body.expires_in) : undefined;
      if (parsed === undefined || parsed <= 0 || parsed > MAX_TOKEN_LIFETIME_MS) {
        sendError(res, new PortcullisError('validation_failed', 'Invalid token request', { fields: { expires_in: 'a duration such as 30d, at most 366d' } }));
        return;
      }
      lifetime = parsed;
    }
    const result = await registry.passwords.verify(username, password, method, ctx(req).facts);
    if (!result.ok) {
      if (result.status === 503) sendError(res, loginUnavailable(result.reason));
      else sendError(res, loginRefusal(result), { 'www-authenticate': 'Basic realm="portcullis"' });
      return;
    }
    const name = typeof body.name === 'string' && body.name.trim() !== '' ? body.name.trim().slice(0, 128) : 'cli';
    const created = await registry.tokens.create(result.user, { name, kind: 'opaque', expiresInMs: lifetime });
    registry.events.emit('TokenCreated', result.user.username, { actor: result.user.username, token_id: created.record.id, kind: 'opaque', name }, ctx(req).facts);
    sendJson(res, 201, { token: created.token, id: created.record.id, expires_at: new Date(created.record.expires_at).toISOString(), user: identityJson(identityOf(result.user, 'api_token')) });
  });

  // Per issuer: the origins whose pages may post its tokens here. The gateway's own is listed
  // too: comesFrom's isSameOrigin accepts it only without fetch metadata, and a gateway page
  // under another of its names posts with Sec-Fetch-Site same-site.
  const handoffOrigins = new Map(
    config.jwt_issuers.map((issuer) => {
      const origins = [config.server.public_url, issuer.issuer, ...issuer.handoff_origins].map(originOf).filter((o): o is string => o !== undefined);
      return [issuer.name, new Set(origins)];
    }),
  );
  const noHandoffOrigins: ReadonlySet<string> = new Set();

  const jwtHandoff = async (req: Request, res: Response): Promise<void> => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const rd = safeRedirectTarget(body.rd ?? req.query.rd);
    const html = wantsHtml(req) || req.method === 'GET';
    const clearHandoff: string[] = [];
    let token: string | undefined;
    let posted = false;
    const authorization = req.headers.authorization;
    if (typeof authorization === 'string' && /^bearer /i.test(authorization)) token = authorization.slice(7).trim();
    else if (typeof body.token === 'string') {
      token = body.token.trim();
      posted = true;
    } else {
      for (const issuer of config.jwt_issuers) {
        if (issuer.handoff_cookie === '') continue;
        const cookie = readCookie(req.headers.cookie, issuer.handoff_cookie);
        if (cookie.value !== undefined || cookie.ambiguous) clearHandoff.push(`${issuer.handoff_cookie}=; Path=/; Max-Age=0; SameSite=Lax${secure ? '; Secure' : ''}`);
        if (cookie.value && !token) token = cookie.value;
      }
    }
    const fail = (reason: string, error = new PortcullisError('invalid_token', 'Invalid or expired token')): void => {
      registry.metrics.logins.inc({ user_type: 'jwt', result: 'failure', reason });
      registry.events.emit('UserLoginFailed', '', { user_type: 'jwt', reason, method: 'jwt_handoff' }, ctx(req).facts);
      const headers: Record<string, string[]> = clearHandoff.length > 0 ? { 'set-cookie': clearHandoff } : {};
      if (html)
        sendHtml(
          res,
          error.status,
          messagePage('Sign-in failed', error.code === 'invalid_token' ? 'The sign-in link is invalid or has expired.' : 'This sign-in did not come from a page allowed to sign you in.'),
          headers,
        );
      else sendError(res, error, headers);
    };
    if (!token || !registry.externalJwt) {
      fail('invalid_token');
      return;
    }
    const result = await registry.externalJwt.verify(token);
    if (result.kind !== 'ok') {
      fail(result.kind === 'failed' ? result.reason : 'invalid_token');
      return;
    }
    const { issuer, claims } = result;
    // Any page can post a form here. A token posted by a page of another origin would sign the
    // visitor in as the token's user (login CSRF); only pages of the gateway, of the issuer and
    // of its handoff_origins may. (A Bearer header cannot be sent cross-site without a CORS
    // preflight, which the gateway never grants; the hand-off cookie is set by the issuer.)
    if (posted && !comesFrom(req, config.server.public_url, handoffOrigins.get(issuer.name) ?? noHandoffOrigins)) {
      fail('cross_site_handoff', new PortcullisError('csrf_rejected', 'Hand-offs are accepted only from the pages of the gateway, the issuer and its handoff_origins'));
      return;
    }
    if (!claims.jti) {
      fail('invalid_token');
      return;
    }
    // Kept as long as the token is accepted: until exp plus the issuer's clock tolerance (and a
    // second for rounding). Dropped at exp, a purge inside the tolerance let the jti in again.
    if (!(await registry.store.recordJti(issuer.name, claims.jti, claims.exp * 1000 + issuer.clock_tolerance + 1000))) {
      fail('replayed_token');
      return;
    }
    const federated = await federateUser(registry.store, issuer, claims, registry.now(), registry.federation);
    if (!federated.ok) {
      fail(federated.reason);
      return;
    }
    registry.userCache.invalidate(federated.user.username);
    const user = (await registry.store.getUser(federated.user.username)) ?? federated.user;
    await startSession(req, res, user, 'jwt_handoff');
    registry.metrics.logins.inc({ user_type: 'jwt', result: 'success', reason: '' });
    registry.events.emit('UserLoggedIn', user.username, { user_type: 'jwt', roles: federated.roles, method: 'jwt_handoff', issuer: issuer.name }, ctx(req).facts);
    for (const cookie of clearHandoff) res.append('set-cookie', cookie);
    if (!html && req.is('application/json'))
      sendJson(res, 200, { user: identityJson(identityOf(user, 'jwt_handoff', { roles: federated.roles, projects: federated.projects }, registry.federation.privileged)) });
    else redirect(res, 303, rd);
  };
  app.get('/.auth/jwt', jwtHandoff);
  app.post('/.auth/jwt', jwtHandoff);

  // Whether /.auth/verify needs the host of the request (see there): rules and routes are fixed.
  const hostScoped = registry.access.rules.some((rule) => rule.hosts.length > 0) || config.routes.some((r) => r.host !== '');
  app.get('/.auth/verify', async (req, res) => {
    const { facts } = ctx(req);
    if (!facts.peerTrusted) {
      sendError(res, new PortcullisError('forbidden', 'Forward-auth requests are only accepted from server.trusted_proxies'));
      return;
    }
    // The front proxy must say what it is about to forward: without X-Forwarded-Method/-Uri
    // the decision would be about a request (GET /) nobody made, and an allow for it would
    // let anything through. And in this mode the backend receives the front proxy's target as
    // the client wrote it, not the gateway's normalised one: a target that normalises to
    // something else (`/admin/%2e%2e` → `/`) is refused instead of decided for the wrong path.
    const forwardedMethod = req.headers['x-forwarded-method'];
    const uri = req.headers['x-forwarded-uri'];
    const method = typeof forwardedMethod === 'string' ? forwardedMethod.toUpperCase() : '';
    const target = typeof uri === 'string' ? normaliseTarget(uri, undefined) : undefined;
    if (!target?.ok || !/^[A-Z]{1,16}$/.test(method) || !isNormalForm(uri as string, target.path)) {
      sendError(res, new PortcullisError('invalid_path', 'X-Forwarded-Method and X-Forwarded-Uri must name the request, its path in normal form'));
      return;
    }
    // The host too, as soon as a rule or route depends on it: the Host of this sub-request is
    // the gateway's own name (nginx auth_request sends $proxy_host), for which every
    // host-scoped rule would be skipped. Judged like the gateway judges a request from a
    // trusted proxy (requestHost): the last X-Forwarded-Host value (the nearest proxy's), else Host.
    const requested = requestHost(req.headers, true);
    if (requested === undefined || (hostScoped && typeof req.headers['x-forwarded-host'] !== 'string')) {
      sendError(res, new PortcullisError('bad_request', 'X-Forwarded-Host must name the host of the request'));
      return;
    }
    const host = requested.name;
    const route = registry.routes.match(host, target.path);
    const foldCase = route?.config.case_insensitive_paths === true;
    const outcome = await gatewayRef().authorize(req, facts, {
      method,
      host,
      path: route ? matchedPath(route, target.path) : target.path,
      query: target.query,
      routeName: route?.name ?? 'verify',
      interactive: false,
      foldCase,
    });
    if (!outcome.ok) {
      outcome.write(res);
      return;
    }
    const headers: Record<string, string> = {};
    const identity = outcome.identity;
    if (identity) {
      const assertion = config.identity_headers.assertion !== '' ? await registry.gatewayKeys.signAssertion(identity, route?.name ?? 'verify') : undefined;
      registry.headers.setIdentity(headers, identity, assertion);
    }
    sendJson(res, 200, identity ? identityJson(identity) : {}, headers);
  });

  app.get('/.auth/password', async (req, res) => {
    const auth = await ctx(req).auth();
    const rd = safeRedirectTarget(req.query.rd);
    if (auth.kind !== 'identity' || auth.identity.method !== 'session') {
      redirect(res, 302, `/.auth/login?rd=${encodeURIComponent(`/.auth/password?rd=${encodeURIComponent(rd)}`)}`);
      return;
    }
    sendHtml(res, 200, passwordPage({ rd, username: auth.identity.username, forced: auth.identity.must_change_password === true }));
  });

  app.post('/.auth/password', async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const rd = safeRedirectTarget(body.rd);
    if (!isSameOrigin(req, config.server.public_url)) {
      sendError(res, new PortcullisError('csrf_rejected', 'Cross-site request refused'));
      return;
    }
    const auth = await ctx(req).auth();
    if (auth.kind !== 'identity' || auth.identity.method !== 'session') {
      redirect(res, 303, `/.auth/login?rd=${encodeURIComponent('/.auth/password')}`);
      return;
    }
    try {
      const user = await registry.users.changeOwnPassword(auth.identity.username, body.current_password, body.new_password, ctx(req).facts);
      // Every session ended with the change; this browser gets a fresh one.
      await startSession(req, res, user, 'form');
      redirect(res, 303, rd);
    } catch (err) {
      const error = toPortcullisError(err);
      if (!error.expose) throw err;
      sendHtml(res, error.status, passwordPage({ rd, username: auth.identity.username, forced: auth.identity.must_change_password === true, error: error.message }));
    }
  });

  app.get('/.auth/admin', (_req, res) => {
    sendHtml(res, 200, adminPage());
  });

  app.use('/.auth/api', api);

  app.use((_req: Request, res: Response) => {
    sendError(res, new PortcullisError('not_found', 'Not found'));
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (err as { status?: number; type?: string }).status;
    const type = (err as { type?: string }).type;
    let error: PortcullisError;
    if (type === 'entity.too.large') error = new PortcullisError('payload_too_large', 'The request body is too large');
    else if (type === 'entity.parse.failed' || (status === 400 && type)) error = new PortcullisError('bad_request', 'The request body could not be parsed');
    else if (type === 'encoding.unsupported' || type === 'charset.unsupported') error = new PortcullisError('unsupported_media_type', 'Unsupported body encoding');
    // The router's own 400s, such as a path parameter that is not valid percent-encoding.
    else if (status === 400 && err instanceof URIError) error = new PortcullisError('bad_request', 'The request path could not be decoded');
    else error = toPortcullisError(err);
    if (!error.expose) registry.logger.error('endpoint failed', { request_id: ctx(req)?.facts.request_id, err: err as Error });
    sendError(res, error);
  });

  return (req, res, facts, path, query) => {
    // Every answer from here is the gateway's own (the caller set X-Request-Id, nosniff,
    // Referrer-Policy and HSTS): identity, tokens and the admin API are never cached.
    res.setHeader('cache-control', 'no-store');
    let memo: Promise<Authentication> | undefined;
    const context: EndpointContext = {
      facts,
      path,
      auth: () =>
        (memo ??= registry.authenticator.authenticate(
          {
            xAuthentication: req.headers['x-authentication'] as string | undefined,
            authorization: req.headers.authorization,
            cookie: req.headers.cookie,
          },
          facts,
        )),
    };
    (req as IncomingMessage & { portcullis: EndpointContext }).portcullis = context;
    req.url = path + (query ? `?${query}` : '');
    app(req as Request, res as Response);
  };
}

/** Is the path of a request target exactly its normalised form (hex digits' case aside)? */
function isNormalForm(target: string, normalised: string): boolean {
  const q = target.indexOf('?');
  const path = (q === -1 ? target : target.slice(0, q)).replace(/%[0-9a-f]{2}/gi, (hex) => hex.toUpperCase());
  return path === normalised;
}

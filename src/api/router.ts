/**
 * The admin and self-service API under /.auth/api (SPEC 8). Authenticated by session cookie
 * (state changes also need `X-Requested-With: portcullis` and a same-origin request), Bearer
 * or X-Authentication. User management needs role admin. Bodies are read strictly: unknown
 * keys are refused, so nothing can be mass-assigned.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { ApiRegistry, EndpointRequest } from './api-context.js';
import { identityJson, type Identity } from '../authn/identity.js';
import { validateGrant } from '../authz/grants.js';
import { parseDuration } from '../config/duration.js';
import { PortcullisError } from '../errors/errors.js';
import { serialiseCookie } from '../http/cookies.js';
import { isSameOrigin, passesCsrfCheck } from '../http/origin.js';
import type { Grant, TokenRecord } from '../store/types.js';
import { attributesProblems, type Attributes } from '../users/attributes.js';
import { usernameProblem } from '../users/validation.js';
import { failIfFields, optionalBoolean, optionalString, optionalStringList, readBody } from './body.js';
import { budgetsOf, resetBudgets } from './budgets.js';
import { openApiDocument } from './openapi.js';
import { eventJson, userJson } from './serialise.js';
import { addTokenRoutes, type TokenCaller } from './token-routes.js';
import { scopeAllows } from '../authz/token-scope.js';
import { authenticationFailure } from '../authn/failure.js';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Node's parser gives a request a body only with Transfer-Encoding or a non-zero Content-Length. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

type Caller = TokenCaller;

type CallerRequest = Request & { caller: Caller };

/** Every route of the API, for the OpenAPI sync test. */
export const API_ROUTES: ReadonlyArray<{ method: 'get' | 'post' | 'put' | 'patch' | 'delete'; path: string }> = [
  { method: 'get', path: '/openapi.json' },
  { method: 'get', path: '/me' },
  { method: 'post', path: '/me/password' },
  { method: 'get', path: '/users' },
  { method: 'post', path: '/users' },
  { method: 'get', path: '/users/{username}' },
  { method: 'patch', path: '/users/{username}' },
  { method: 'delete', path: '/users/{username}' },
  { method: 'post', path: '/users/{username}/revoke' },
  { method: 'post', path: '/users/{username}/relink' },
  { method: 'post', path: '/config/reload' },
  { method: 'put', path: '/users/{username}/upstream-credentials/{route}' },
  { method: 'delete', path: '/users/{username}/upstream-credentials/{route}' },
  { method: 'get', path: '/tokens' },
  { method: 'post', path: '/tokens' },
  { method: 'delete', path: '/tokens/{id}' },
  { method: 'get', path: '/events' },
];

/** Paths only role admin may call at all (each route checks its own right again). */
const ADMIN_ONLY = /^\/(users|events|config)(\/|$)/;

export function createApiRouter(registry: ApiRegistry, readBodies: express.RequestHandler[]): express.Router {
  const router = express.Router({ strict: true, caseSensitive: true });
  const { config, users, store, events } = registry;
  const secure = config.server.public_url.startsWith('https:');
  const facts = (req: Request): EndpointRequest['portcullis']['facts'] => (req as EndpointRequest).portcullis.facts;
  const caller = (req: Request): Caller => (req as CallerRequest).caller;
  const actor = (req: Request): { username: string } => ({ username: caller(req).identity.username });

  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument());
  });

  // Authentication, CSRF and the password-change gate for everything below.
  router.use(async (req: Request, _res: Response, next: NextFunction) => {
    const auth = await (req as EndpointRequest).portcullis.auth();
    if (auth.kind === 'failed') throw authenticationFailure(auth);
    if (auth.kind !== 'identity' || !auth.user || auth.identity.method === 'anonymous') {
      throw new PortcullisError('unauthenticated', 'Authentication required', { headers: { 'www-authenticate': 'Bearer realm="portcullis"' } });
    }
    if (auth.scope !== undefined) assertInScope(registry, req, auth.identity, auth.scope);
    if (STATE_CHANGING.has(req.method)) {
      if (auth.identity.method === 'session' && !passesCsrfCheck(req, config.server.public_url)) {
        throw new PortcullisError('csrf_rejected', 'State-changing requests with a session need X-Requested-With: portcullis from the same origin');
      }
      // A browser that once answered the gateway's Basic challenge sends those credentials with
      // any page's form: a cross-site browser request is refused for Basic too.
      if (auth.identity.method === 'basic' && !isSameOrigin(req, config.server.public_url)) {
        throw new PortcullisError('csrf_rejected', 'Cross-site requests cannot change state');
      }
    }
    if (auth.identity.must_change_password && !(req.path === '/me' && req.method === 'GET') && !(req.path === '/me/password' && req.method === 'POST')) {
      throw new PortcullisError('password_change_required', 'You must change your password first');
    }
    // Authorisation before the body is read (SPEC 8): refused whatever the body or its type.
    if (ADMIN_ONLY.test(req.path) && !auth.identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'User management needs role admin');
    (req as CallerRequest).caller = { identity: auth.identity, user: auth.user, token: auth.token, scope: auth.scope };
    next();
  });
  // The API reads JSON only: an HTML form (urlencoded, multipart, text/plain) cannot send it
  // cross-site without a CORS preflight, which the gateway never grants. A body that is empty
  // (a chunked POST with no data, as Node's client sends) is no body, whatever its type.
  router.use((req: Request, _res: Response, next: NextFunction) => {
    if (!STATE_CHANGING.has(req.method) || !hasBody(req) || req.is(['application/json', 'application/*+json'])) return next();
    // Whatever it is, it is refused once one byte of it has arrived.
    let done = false;
    const finish = (err?: PortcullisError): void => {
      if (done) return;
      done = true;
      req.pause();
      next(err);
    };
    req.on('data', () => finish(new PortcullisError('unsupported_media_type', 'The API accepts application/json bodies only')));
    req.on('error', () => finish(new PortcullisError('bad_request', 'The request body could not be read')));
    req.on('end', () => finish());
  });
  router.use(readBodies);

  const requireAdmin = (req: Request, _res: Response, next: NextFunction): void => {
    if (!caller(req).identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'User management needs role admin');
    next();
  };

  router.get('/me', async (req, res) => {
    const { identity, user } = caller(req);
    res.json({ ...identityJson(identity), must_change_password: identity.must_change_password === true, budgets: await budgetsOf(config, store, user) });
  });

  router.post('/me/password', async (req, res) => {
    const body = readBody(req.body, ['current_password', 'new_password']);
    const { identity } = caller(req);
    const updated = await users.changeOwnPassword(identity.username, body.current_password, body.new_password, facts(req), identity.method);
    if (identity.method === 'session') {
      // The change ended every session; this browser gets a fresh one.
      const session = await registry.sessions.create(updated, 'form');
      res.append('set-cookie', serialiseCookie(config.session.cookie_name, session.id, { secure, maxAgeSeconds: config.session.max_lifetime / 1000 }));
    }
    res.json({ user: userJson(updated) });
  });

  router.get('/users', requireAdmin, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const fields: Record<string, string> = {};
    const limit = intParam(q.limit, 50, 1, 500, 'limit', fields);
    const offset = intParam(q.offset, 0, 0, 1_000_000_000, 'offset', fields);
    failIfFields(fields, 'Invalid query');
    const result = await users.list({
      limit,
      offset,
      ...(typeof q.q === 'string' && q.q !== '' ? { q: q.q.slice(0, 128) } : {}),
      ...(typeof q.role === 'string' && q.role !== '' ? { role: q.role } : {}),
      ...(typeof q.source === 'string' && q.source !== '' ? { source: q.source } : {}),
    });
    res.json({ users: result.users.map(userJson), total: result.total, limit, offset });
  });

  router.post('/users', requireAdmin, async (req, res) => {
    const body = readBody(req.body, ['username', 'password', 'name', 'email', 'roles', 'projects', 'must_change_password', 'grants', 'quotas', 'attributes', 'jwt_issuer']);
    const fields: Record<string, string> = {};
    const username = optionalString(body, 'username', fields);
    if (username === undefined && !fields.username) fields.username = 'required';
    const nameProblem = username === undefined ? undefined : usernameProblem(username);
    if (nameProblem) fields.username = nameProblem;
    const password = optionalString(body, 'password', fields);
    const roles = optionalStringList(body, 'roles', fields);
    if (roles === undefined && !fields.roles) fields.roles = 'required (an array of role names)';
    const projects = optionalStringList(body, 'projects', fields);
    const name = optionalString(body, 'name', fields);
    const email = optionalString(body, 'email', fields);
    const mustChange = optionalBoolean(body, 'must_change_password', fields);
    const grants = readGrants(body.grants, fields);
    const quotas = readQuotas(registry, body.quotas, fields);
    const attributes = readAttributes(body.attributes, fields);
    const issuer = optionalString(body, 'jwt_issuer', fields);
    if (issuer !== undefined && !config.jwt_issuers.some((i) => i.name === issuer)) fields.jwt_issuer = 'not a configured jwt_issuers name';
    if (issuer !== undefined && password !== undefined) fields.password = 'users of an external issuer have no password';
    failIfFields(fields, 'Invalid user');
    const user = await users.create(
      {
        username: username as string,
        password,
        name,
        email,
        roles: roles as string[],
        projects,
        must_change_password: mustChange,
        grants,
        quotas,
        attributes,
        ...(issuer ? { source: `jwt:${issuer}` as const } : {}),
      },
      actor(req),
      facts(req),
    );
    res.status(201).json(userJson(user));
  });

  router.get('/users/:username', requireAdmin, async (req, res) => {
    const user = await users.get(String(req.params.username));
    // The routes with a stored credential, never the values (SPEC 15), and those that take one (for the UI).
    const credentials = registry.upstreamCredentials;
    res.json({
      ...userJson(user),
      upstream_credentials: await credentials.routesOf(user.username),
      upstream_credential_routes: credentials.routeNames().filter((route) => credentials.accepts(route)),
    });
  });

  // SPEC 15: a per-user backend credential, write-only.
  router.put('/users/:username/upstream-credentials/:route', requireAdmin, async (req, res) => {
    const body = readBody(req.body, ['value']);
    const user = await users.get(String(req.params.username));
    await registry.upstreamCredentials.set(user.username, String(req.params.route), body.value as string);
    events.emit('UserUpdated', user.username, { actor: actor(req).username, changed: [`upstream_credentials.${String(req.params.route)}`] }, facts(req));
    res.status(204).end();
  });

  router.delete('/users/:username/upstream-credentials/:route', requireAdmin, async (req, res) => {
    const user = await users.get(String(req.params.username));
    if (!(await registry.upstreamCredentials.delete(user.username, String(req.params.route)))) throw new PortcullisError('not_found', 'No credential stored for this user and route');
    events.emit('UserUpdated', user.username, { actor: actor(req).username, changed: [`upstream_credentials.${String(req.params.route)}`] }, facts(req));
    res.status(204).end();
  });

  router.patch('/users/:username', requireAdmin, async (req, res) => {
    const body = readBody(req.body, ['roles', 'projects', 'name', 'email', 'disabled', 'password', 'must_change_password', 'grants', 'quotas', 'attributes']);
    const fields: Record<string, string> = {};
    const input = {
      roles: optionalStringList(body, 'roles', fields),
      projects: optionalStringList(body, 'projects', fields),
      name: optionalString(body, 'name', fields),
      email: optionalString(body, 'email', fields),
      disabled: optionalBoolean(body, 'disabled', fields),
      password: optionalString(body, 'password', fields),
      must_change_password: optionalBoolean(body, 'must_change_password', fields),
      grants: readGrants(body.grants, fields),
      quotas: readQuotas(registry, body.quotas, fields),
      attributes: readAttributes(body.attributes, fields),
    };
    failIfFields(fields, 'Invalid user');
    const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    const updated = await users.update(String(req.params.username), defined, actor(req), facts(req));
    // A total set for a budget starts its count afresh (SPEC 5).
    if (input.quotas !== undefined) await resetBudgets(config, store, updated.username, input.quotas);
    res.json(userJson(updated));
  });

  router.delete('/users/:username', requireAdmin, async (req, res) => {
    await users.delete(String(req.params.username), actor(req), facts(req));
    res.status(204).end();
  });

  router.post('/users/:username/revoke', requireAdmin, async (req, res) => {
    await users.revoke(String(req.params.username), actor(req), facts(req));
    res.status(204).end();
  });

  // SPEC 1: reload the configuration file; 400 with every problem, the running one kept.
  router.post('/config/reload', requireAdmin, async (_req, res) => {
    if (!registry.reloadConfig) throw new PortcullisError('conflict', 'This gateway does not run from a configuration file it can reload');
    const outcome = await registry.reloadConfig();
    if (!outcome.ok) {
      const fields = Object.fromEntries(outcome.problems.map((p) => [p.path || 'config', p.message]));
      throw new PortcullisError('validation_failed', 'The configuration file has problems: the running configuration is kept', { fields });
    }
    res.json({ changed: outcome.changed, restart_required: outcome.restart_required });
  });

  // SPEC 18: accept that the directory entry behind an ldap user changed (it was re-created):
  // the old sessions and tokens end, and the next login records the new entry's id.
  router.post('/users/:username/relink', requireAdmin, async (req, res) => {
    const user = await store.getUser(String(req.params.username));
    if (!user) throw new PortcullisError('not_found', 'User not found');
    if (user.source !== 'ldap') throw new PortcullisError('conflict', 'Only users of the directory (source ldap) are linked to an entry');
    await store.setDirectoryState(user.username, { directory_id: '', revocation: '', checked_at: registry.now() });
    const updated = (await store.updateUser(user.username, { end_sessions: true, now: registry.now() })) ?? user;
    registry.userCache.invalidate(user.username);
    events.emit('UserUpdated', user.username, { actor: actor(req).username, changed: ['directory_id'] }, facts(req));
    res.json(userJson({ ...updated, directory_id: '' }));
  });

  addTokenRoutes(router, registry, caller);

  router.get('/events', requireAdmin, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const fields: Record<string, string> = {};
    const limit = intParam(q.limit, 100, 1, 1000, 'limit', fields);
    const offset = intParam(q.offset, 0, 0, 1_000_000_000, 'offset', fields);
    let since: number | undefined;
    if (typeof q.since === 'string' && q.since !== '') {
      const duration = parseDuration(q.since);
      const time = Date.parse(q.since);
      if (duration !== undefined) since = Math.max(0, registry.now() - duration);
      else if (!Number.isNaN(time)) since = Math.max(0, time);
      else fields.since = 'an ISO time or a duration such as 1h';
    }
    failIfFields(fields, 'Invalid query');
    const result = await store.listEvents({
      limit,
      offset,
      ...(typeof q.type === 'string' && q.type !== '' ? { type: q.type } : {}),
      ...(typeof q.username === 'string' && q.username !== '' ? { username: q.username } : {}),
      ...(since !== undefined ? { since } : {}),
    });
    res.json({ events: result.events.map(eventJson), total: result.total });
  });

  return router;
}

/**
 * A scoped token reaches the API only where its scope allows (a read_only token only reads),
 * judged on the full path (`/.auth/api/...`) as on any other. GET /.auth/api/me stays open to
 * every token: it tells the holder no more than whose token it holds, and `whoami` needs it.
 */
function assertInScope(registry: ApiRegistry, req: Request, identity: Identity, scope: TokenRecord): void {
  const path = (req as EndpointRequest).portcullis.path;
  if (req.method === 'GET' && path === '/.auth/api/me') return;
  if (scopeAllows(scope, req.method, path, { username: identity.username, projects: identity.projects })) return;
  const facts = (req as EndpointRequest).portcullis.facts;
  registry.metrics.accessDenied.inc({ rule: 'api', reason: 'token_scope' });
  registry.events.emit('AccessDenied', identity.username, { rule: 'api', reason: 'token_scope', granted: false, method: req.method, path: path.slice(0, 512) }, facts);
  throw new PortcullisError('token_scope', 'Outside the scope of this token');
}

function intParam(value: unknown, fallback: number, min: number, max: number, name: string, fields: Record<string, string>): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    fields[name] = `must be an integer from ${min} to ${max}`;
    return fallback;
  }
  return n;
}

function readGrants(value: unknown, fields: Record<string, string>): Grant[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > 100) {
    fields.grants = 'must be an array of {paths, methods} (at most 100)';
    return undefined;
  }
  const grants: Grant[] = [];
  for (const [i, item] of value.entries()) {
    const result = validateGrant(item);
    if (!result.ok) {
      fields[`grants[${i}]`] = Object.entries(result.fields)
        .map(([k, v]) => `${k}: ${v}`)
        .join('; ');
      return undefined;
    }
    grants.push(result.grant);
  }
  return grants;
}

function readQuotas(registry: ApiRegistry, value: unknown, fields: Record<string, string>): Record<string, number> | undefined {
  if (value === undefined) return undefined;
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    fields.quotas = 'must be an object {"<rule name>": <requests>}';
    return undefined;
  }
  const quotaRules = new Set(registry.config.access.rules.filter((r) => r.quota).map((r) => r.name));
  const out: Record<string, number> = {};
  for (const [rule, requests] of Object.entries(value)) {
    if (!quotaRules.has(rule)) fields[`quotas.${rule.slice(0, 64)}`] = 'not a rule with a quota';
    else if (typeof requests !== 'number' || !Number.isInteger(requests) || requests < 0 || requests > 1_000_000_000) fields[`quotas.${rule}`] = 'must be a whole number of requests';
    else out[rule] = requests;
  }
  return out;
}

/** `attributes` (SPEC 16): absent, or a valid object; else its problems join `fields`. */
function readAttributes(value: unknown, fields: Record<string, string>): Attributes | undefined {
  if (value === undefined) return undefined;
  const problems = attributesProblems(value);
  if (problems) Object.assign(fields, problems);
  return problems ? undefined : (value as Attributes);
}

/**
 * The admin and self-service API under /.auth/api (SPEC 8). Authenticated by session cookie
 * (state changes also need `X-Requested-With: portcullis` and a same-origin request), Bearer
 * or X-Authentication. User management needs role admin. Bodies are read strictly: unknown
 * keys are refused, so nothing can be mass-assigned.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import type { EndpointRequest } from '../app/auth-endpoints.js';
import type { Registry } from '../app/registry.js';
import { identityJson, type Identity } from '../authn/identity.js';
import { validateGrant } from '../authz/grants.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import type { Config } from '../config/index.js';
import { PortcullisError } from '../errors/errors.js';
import { serialiseCookie } from '../http/cookies.js';
import { isSameOrigin, passesCsrfCheck } from '../http/origin.js';
import type { Grant, UserRecord } from '../store/types.js';
import { usernameProblem } from '../users/validation.js';
import { failIfFields, optionalBoolean, optionalString, optionalStringList, readBody } from './body.js';
import { openApiDocument } from './openapi.js';
import { eventJson, tokenJson, userJson } from './serialise.js';
import { loginUnavailable } from '../authn/password-chain.js';

const MAX_TOKEN_LIFETIME = 366 * 86_400_000;

/** The longest token a user of issuer `name` may hold: its max_token_lifetime (1 h, the default, if the issuer is no longer configured). */
function federatedTokenLifetime(config: Config, name: string): number {
  return config.jwt_issuers.find((issuer) => issuer.name === name)?.max_token_lifetime ?? 3_600_000;
}
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Node's parser gives a request a body only with Transfer-Encoding or a non-zero Content-Length. */
function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

interface Caller {
  identity: Identity;
  user: UserRecord;
}

type CallerRequest = Request & { caller: Caller };

/** Every route of the API, for the OpenAPI sync test. */
export const API_ROUTES: ReadonlyArray<{ method: 'get' | 'post' | 'patch' | 'delete'; path: string }> = [
  { method: 'get', path: '/openapi.json' },
  { method: 'get', path: '/me' },
  { method: 'post', path: '/me/password' },
  { method: 'get', path: '/users' },
  { method: 'post', path: '/users' },
  { method: 'get', path: '/users/{username}' },
  { method: 'patch', path: '/users/{username}' },
  { method: 'delete', path: '/users/{username}' },
  { method: 'post', path: '/users/{username}/revoke' },
  { method: 'get', path: '/tokens' },
  { method: 'post', path: '/tokens' },
  { method: 'delete', path: '/tokens/{id}' },
  { method: 'get', path: '/events' },
];

/** Paths only role admin may call at all (each route checks its own right again). */
const ADMIN_ONLY = /^\/(users|events)(\/|$)/;

export function createApiRouter(registry: Registry, readBodies: express.RequestHandler[]): express.Router {
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
  router.use(async (req: Request, res: Response, next: NextFunction) => {
    const auth = await (req as EndpointRequest).portcullis.auth();
    if (auth.kind === 'failed') {
      throw auth.status === 503
        ? loginUnavailable(auth.reason)
        : new PortcullisError(auth.scheme === 'Basic' ? 'invalid_credentials' : 'invalid_token', auth.scheme === 'Basic' ? 'Invalid username or password' : 'Invalid or expired token', {
            headers: { 'www-authenticate': `${auth.scheme} realm="portcullis"` },
          });
    }
    if (auth.kind !== 'identity' || !auth.user || auth.identity.method === 'anonymous') {
      throw new PortcullisError('unauthenticated', 'Authentication required', { headers: { 'www-authenticate': 'Bearer realm="portcullis"' } });
    }
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
    (req as CallerRequest).caller = { identity: auth.identity, user: auth.user };
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

  router.get('/me', (req, res) => {
    const { identity } = caller(req);
    res.json({ ...identityJson(identity), must_change_password: identity.must_change_password === true });
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
    const body = readBody(req.body, ['username', 'password', 'name', 'email', 'roles', 'projects', 'must_change_password', 'grants', 'quotas', 'jwt_issuer']);
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
    const issuer = optionalString(body, 'jwt_issuer', fields);
    if (issuer !== undefined && !config.jwt_issuers.some((i) => i.name === issuer)) fields.jwt_issuer = 'not a configured jwt_issuers name';
    if (issuer !== undefined && password !== undefined) fields.password = 'users of an external issuer have no password';
    failIfFields(fields, 'Invalid user');
    const user = await users.create(
      { username: username as string, password, name, email, roles: roles as string[], projects, must_change_password: mustChange, grants, quotas, ...(issuer ? { source: `jwt:${issuer}` as const } : {}) },
      actor(req),
      facts(req),
    );
    res.status(201).json(userJson(user));
  });

  router.get('/users/:username', requireAdmin, async (req, res) => {
    res.json(userJson(await users.get(String(req.params.username))));
  });

  router.patch('/users/:username', requireAdmin, async (req, res) => {
    const body = readBody(req.body, ['roles', 'projects', 'name', 'email', 'disabled', 'password', 'must_change_password', 'grants', 'quotas']);
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
    };
    failIfFields(fields, 'Invalid user');
    const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    res.json(userJson(await users.update(String(req.params.username), defined, actor(req), facts(req))));
  });

  router.delete('/users/:username', requireAdmin, async (req, res) => {
    await users.delete(String(req.params.username), actor(req), facts(req));
    res.status(204).end();
  });

  router.post('/users/:username/revoke', requireAdmin, async (req, res) => {
    await users.revoke(String(req.params.username), actor(req), facts(req));
    res.status(204).end();
  });

  router.get('/tokens', async (req, res) => {
    const { identity } = caller(req);
    const target = typeof req.query.user === 'string' && req.query.user !== '' ? req.query.user : identity.username;
    if (target.toLowerCase() !== identity.username.toLowerCase() && !identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'Only admins may list the tokens of other users');
    const tokens = await store.listTokens(target);
    res.json({ tokens: tokens.map(tokenJson) });
  });

  router.post('/tokens', async (req, res) => {
    const body = readBody(req.body, ['name', 'expires_in', 'kind']);
    const fields: Record<string, string> = {};
    const name = optionalString(body, 'name', fields) ?? 'token';
    if (name.trim() === '' || name.length > 128) fields.name = 'must be 1 to 128 characters';
    const kind: 'opaque' | 'jwt' = body.kind === 'jwt' ? 'jwt' : 'opaque';
    if (body.kind !== undefined && body.kind !== 'opaque' && body.kind !== 'jwt') fields.kind = 'must be opaque or jwt';
    const { user: self, identity } = caller(req);
    // `?user=`: an admin mints a token for another user (a password-less [api] user has no other way to get one).
    const named = typeof req.query.user === 'string' && req.query.user !== '' ? req.query.user : undefined;
    if (req.query.user !== undefined && named === undefined) throw new PortcullisError('bad_request', 'user must be one user name');
    const forOther = named !== undefined && named.toLowerCase() !== identity.username.toLowerCase();
    if (forOther && !identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'Only admins may create tokens for other users');
    const user = forOther ? await store.getUser(named) : self;
    if (!user) throw new PortcullisError('not_found', 'User not found');
    if (user.disabled) throw new PortcullisError('conflict', 'The user is disabled');
    // A user of an external issuer is vouched for by that issuer, which the gateway cannot ask
    // about revocations: its tokens live no longer than the issuer lets one of its JWTs live.
    const federatedCap = user.source.startsWith('jwt:') ? federatedTokenLifetime(config, user.source.slice(4)) : undefined;
    let lifetime = Math.min(30 * 86_400_000, federatedCap ?? MAX_TOKEN_LIFETIME);
    if (body.expires_in !== undefined) {
      const parsed = typeof body.expires_in === 'string' ? parseDuration(body.expires_in) : undefined;
      if (parsed === undefined || parsed <= 0 || parsed > MAX_TOKEN_LIFETIME) fields.expires_in = 'a duration such as 30d, at most 366d';
      else if (federatedCap !== undefined && parsed > federatedCap) fields.expires_in = `at most ${formatDuration(federatedCap)} for a user of issuer ${user.source.slice(4)} (its max_token_lifetime)`;
      else lifetime = parsed;
    }
    failIfFields(fields, 'Invalid token request');
    // Judged by the record of the user the token is for (kind jwt needs role api, which a jwt:
    // record never holds, SPEC 3) and counted against that user's cap: an admin's `?user=` counts against that user.
    const created = await registry.tokens.create(user, { name: name.trim(), kind, expiresInMs: lifetime }, registry.gatewayKeys);
    events.emit('TokenCreated', user.username, { actor: identity.username, token_id: created.record.id, kind, name: name.trim() }, facts(req));
    res.status(201).json({ ...tokenJson(created.record), token: created.token });
  });

  router.delete('/tokens/:id', async (req, res) => {
    const { identity } = caller(req);
    const token = await store.getToken(String(req.params.id));
    const mine = token !== undefined && token.username.toLowerCase() === identity.username.toLowerCase();
    if (!token || (!mine && !identity.roles.includes('admin'))) throw new PortcullisError('not_found', 'Token not found');
    if (await store.revokeToken(token.id, registry.now())) {
      events.emit('TokenRevoked', token.username, { actor: identity.username, token_id: token.id }, facts(req));
    }
    res.status(204).end();
  });

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

function readQuotas(registry: Registry, value: unknown, fields: Record<string, string>): Record<string, number> | undefined {
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

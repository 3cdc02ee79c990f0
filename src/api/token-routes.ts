/**
 * `/.auth/api/tokens` (SPEC 8): list, create and revoke API tokens. A token created by a request
 * that a token authenticated never outlives that token (a longer `expires_in` is clamped to
 * its expiry) and is never broader: it carries the caller's scope and read_only, plus any it asks for.
 */
import { DEFAULT_TOKEN_LIFETIME_MS, MAX_TOKEN_LIFETIME_MS } from '../authn/api-tokens.js';
import type express from 'express';
import type { Request } from 'express';
import type { ApiRegistry, EndpointRequest } from './api-context.js';
import type { Identity } from '../authn/identity.js';
import { MAX_SCOPE_GRANTS, narrowedScope, readScope } from '../authz/token-scope.js';
import { formatDuration, parseDuration } from '../config/duration.js';
import type { Config } from '../config/index.js';
import { PortcullisError } from '../errors/errors.js';
import type { Grant, TokenRecord, UserRecord } from '../store/types.js';
import { failIfFields, optionalBoolean, optionalString, readBody } from './body.js';
import { tokenJson } from './serialise.js';

export interface TokenCaller {
  identity: Identity;
  user: UserRecord;
  /** The API token that authenticated the request, if one did. */
  token: TokenRecord | undefined;
  /** That token when it is scoped. */
  scope: TokenRecord | undefined;
}

interface TokenRequest {
  name: string;
  kind: 'opaque' | 'jwt';
  expiresIn: string | undefined;
  scope: Grant | undefined;
  readOnly: boolean;
}

/** The longest token a user of issuer `name` may hold: its max_token_lifetime (1 h, the default, if the issuer is no longer configured). */
function federatedTokenLifetime(config: Config, name: string): number {
  return config.jwt_issuers.find((issuer) => issuer.name === name)?.max_token_lifetime ?? 3_600_000;
}

function readTokenRequest(value: unknown, fields: Record<string, string>): TokenRequest {
  const body = readBody(value, ['name', 'expires_in', 'kind', 'scope', 'read_only']);
  const name = optionalString(body, 'name', fields) ?? 'token';
  if (name.trim() === '' || name.length > 128) fields.name = 'must be 1 to 128 characters';
  if (body.kind !== undefined && body.kind !== 'opaque' && body.kind !== 'jwt') fields.kind = 'must be opaque or jwt';
  const expiresIn = body.expires_in;
  if (expiresIn !== undefined && typeof expiresIn !== 'string') fields.expires_in = 'a duration such as 30d, at most 366d';
  return {
    name: name.trim(),
    kind: body.kind === 'jwt' ? 'jwt' : 'opaque',
    expiresIn: typeof expiresIn === 'string' ? expiresIn : undefined,
    scope: readScope(body.scope, fields),
    readOnly: optionalBoolean(body, 'read_only', fields) ?? false,
  };
}

/** The lifetime asked for, within the limits of the user it is for (366 days; an issuer's max_token_lifetime). */
function lifetimeFor(config: Config, user: UserRecord, expiresIn: string | undefined, fields: Record<string, string>): number {
  // A user of an external issuer is vouched for by that issuer, which the gateway cannot ask
  // about revocations: its tokens live no longer than the issuer lets one of its JWTs live.
  const federatedCap = user.source.startsWith('jwt:') ? federatedTokenLifetime(config, user.source.slice(4)) : undefined;
  const fallback = Math.min(DEFAULT_TOKEN_LIFETIME_MS, federatedCap ?? MAX_TOKEN_LIFETIME_MS);
  if (expiresIn === undefined) return fallback;
  const parsed = parseDuration(expiresIn);
  if (parsed === undefined || parsed <= 0 || parsed > MAX_TOKEN_LIFETIME_MS) fields.expires_in = 'a duration such as 30d, at most 366d';
  else if (federatedCap !== undefined && parsed > federatedCap) fields.expires_in = `at most ${formatDuration(federatedCap)} for a user of issuer ${user.source.slice(4)} (its max_token_lifetime)`;
  else return parsed;
  return fallback;
}

/** The user a token is for: the caller, or with `?user=` (admins only) another user. */
async function tokenOwner(registry: ApiRegistry, req: Request, caller: TokenCaller): Promise<UserRecord> {
  const { identity } = caller;
  // `?user=`: an admin mints a token for another user (a password-less [api] user has no other way to get one).
  const named = typeof req.query.user === 'string' && req.query.user !== '' ? req.query.user : undefined;
  if (req.query.user !== undefined && named === undefined) throw new PortcullisError('bad_request', 'user must be one user name');
  const forOther = named !== undefined && named.toLowerCase() !== identity.username.toLowerCase();
  if (forOther && !identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'Only admins may create tokens for other users');
  const user = forOther ? await registry.store.getUser(named) : caller.user;
  if (!user) throw new PortcullisError('not_found', 'User not found');
  if (user.disabled) throw new PortcullisError('conflict', 'The user is disabled');
  return user;
}

export function addTokenRoutes(router: express.Router, registry: ApiRegistry, callerOf: (req: Request) => TokenCaller): void {
  const { store, events } = registry;
  const facts = (req: Request): EndpointRequest['portcullis']['facts'] => (req as EndpointRequest).portcullis.facts;

  router.get('/tokens', async (req, res) => {
    const { identity } = callerOf(req);
    const target = typeof req.query.user === 'string' && req.query.user !== '' ? req.query.user : identity.username;
    if (target.toLowerCase() !== identity.username.toLowerCase() && !identity.roles.includes('admin')) throw new PortcullisError('forbidden', 'Only admins may list the tokens of other users');
    const tokens = await store.listTokens(target);
    res.json({ tokens: tokens.map(tokenJson) });
  });

  router.post('/tokens', async (req, res) => {
    const fields: Record<string, string> = {};
    const input = readTokenRequest(req.body, fields);
    const caller = callerOf(req);
    const user = await tokenOwner(registry, req, caller);
    const lifetime = lifetimeFor(registry.config, user, input.expiresIn, fields);
    // Never broader than the calling token: its scope and read_only are handed down.
    const scoped = narrowedScope(caller.scope, { scope: input.scope, readOnly: input.readOnly });
    if (scoped.scope !== null && scoped.scope.length > MAX_SCOPE_GRANTS) fields.scope = `the calling token's scope and this one make more than ${MAX_SCOPE_GRANTS} grants`;
    failIfFields(fields, 'Invalid token request');
    // Judged by the record of the user the token is for (kind jwt needs role api, which a jwt:
    // record never holds, SPEC 3) and counted against that user's cap: an admin's `?user=` counts against that user.
    const created = await registry.tokens.create(
      user,
      { name: input.name, kind: input.kind, expiresInMs: lifetime, notAfter: caller.token?.expires_at, scope: scoped.scope, readOnly: scoped.read_only },
      registry.gatewayKeys,
    );
    events.emit('TokenCreated', user.username, { actor: caller.identity.username, token_id: created.record.id, kind: input.kind, name: input.name }, facts(req));
    res.status(201).json({ ...tokenJson(created.record), token: created.token });
  });

  router.delete('/tokens/:id', async (req, res) => {
    const { identity } = callerOf(req);
    const token = await store.getToken(String(req.params.id));
    const mine = token !== undefined && token.username.toLowerCase() === identity.username.toLowerCase();
    if (!token || (!mine && !identity.roles.includes('admin'))) throw new PortcullisError('not_found', 'Token not found');
    if (await store.revokeToken(token.id, registry.now())) {
      events.emit('TokenRevoked', token.username, { actor: identity.username, token_id: token.id }, facts(req));
    }
    res.status(204).end();
  });
}

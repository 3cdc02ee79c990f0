/**
 * The composition root: builds one typed registry of every component from a validated
 * config, wires change notifications to the caches, and tears everything down in order.
 */
import type { BlockList } from 'node:net';
import type { ReloadOutcome } from './reload.js';
import { privilegedRoles, trustedProxyList, type Config } from '../config/index.js';
import { LdapDirectory } from '../directory/ldap-directory.js';
import { EventBus } from '../events/bus.js';
import type { DropCounter } from '../events/types.js';
import { WebhookSink } from '../events/webhook.js';
import { ApiTokens } from '../authn/api-tokens.js';
import { Authenticator } from '../authn/authenticate.js';
import { DirectoryRevalidator } from '../authn/directory-revalidation.js';
import type { FederationContext } from '../authn/federation.js';
import { ExternalJwtVerifier } from '../authn/external-jwt.js';
import { GatewayKeys } from '../authn/gateway-keys.js';
import { PasswordChain } from '../authn/password-chain.js';
import { SessionManager } from '../authn/sessions.js';
import { SocketGrants } from '../authn/socket-grants.js';
import { UserCache, type CacheStats } from '../authn/user-cache.js';
import { compileAccess, type CompiledAccess } from '../authz/rules.js';
import { HeaderPolicy } from '../http/headers.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { OpenSockets } from '../proxy/open-sockets.js';
import { RouteTable } from '../proxy/routes.js';
import { UpstreamAuth } from '../proxy/upstream-credentials.js';
import { parseSecretKey } from '../config/upstream-auth.js';
import { UpstreamCredentialStore } from '../users/upstream-credentials.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/types.js';
import { bootstrapAdmin } from '../users/bootstrap.js';
import { PasswordHasher } from '../users/password-hash.js';
import { seedUsers } from '../users/seed.js';
import { UserService } from '../users/user-service.js';

export interface Registry {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  store: Store;
  events: EventBus;
  hasher: PasswordHasher;
  users: UserService;
  userCache: UserCache;
  sessions: SessionManager;
  tokens: ApiTokens;
  passwords: PasswordChain;
  authenticator: Authenticator;
  /** What each upgraded WebSocket was authorised by, and the re-check of it. */
  socketGrants: SocketGrants;
  /** The upgraded WebSockets, closed when their credential ends. */
  openSockets: OpenSockets;
  directory: LdapDirectory | undefined;
  /** Re-checks ldap users' sessions and tokens against the directory (undefined without ldap). */
  revalidator: DirectoryRevalidator | undefined;
  externalJwt: ExternalJwtVerifier | undefined;
  gatewayKeys: GatewayKeys;
  access: CompiledAccess;
  /** What turning an external identity into a user record needs: `access.privileged_roles` and the directory's names. */
  federation: FederationContext;
  routes: RouteTable;
  /** The backends' own credentials (SPEC 15), per route with upstream_auth. */
  upstreamAuth: UpstreamAuth;
  /** Per-user upstream credentials, encrypted with server.secret_key (SPEC 15). */
  upstreamCredentials: UpstreamCredentialStore;
  headers: HeaderPolicy;
  /** undefined when server.trusted_proxies is empty: nobody's forwarding headers are believed. */
  trustedProxies: BlockList | undefined;
  now: () => number;
  ready: boolean;
  /** Reloads the configuration file (set by the server; SPEC 1). */
  reloadConfig?: (() => Promise<ReloadOutcome>) | undefined;
  close(): Promise<void>;
}

export interface BuildOptions {
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  now?: () => number;
  /** Where the generated admin password line goes (stdout by default). */
  announce?: (line: string) => void;
  /** Skip collecting default process metrics (several registries in one test process). */
  defaultMetrics?: boolean;
}

/** What every configuration of one running gateway shares: the store, caches, keys, sockets. */
interface Shared {
  logger: Logger;
  metrics: Metrics;
  store: Store;
  events: EventBus;
  hasher: PasswordHasher;
  userCache: UserCache;
  sessions: SessionManager;
  tokens: ApiTokens;
  gatewayKeys: GatewayKeys;
  socketGrants: SocketGrants;
  openSockets: OpenSockets;
  now: () => number;
  /** The registry requests are handled with now (a reload replaces it; change notifications reach it). */
  current: { registry: Registry | undefined };
  closers: Array<() => Promise<void> | void>;
}

const SHARED = Symbol('portcullis.shared');
type WithShared = Registry & { [SHARED]: Shared; [RETIRE]: () => Promise<void> };
const RETIRE = Symbol('portcullis.retire');

export async function buildRegistry(config: Config, options: BuildOptions = {}): Promise<Registry> {
  const env = options.env ?? process.env;
  const logger = options.logger ?? createLogger();
  const now = options.now ?? Date.now;
  const metrics = createMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const stats: CacheStats = {
    hit: (cache) => metrics.countCache(cache, 'hit'),
    miss: (cache) => metrics.countCache(cache, 'miss'),
  };
  const store = await openStore(config.store.url, { logger: (level, msg, fields) => logger[level](msg, fields) });
  const closers: Array<() => Promise<void> | void> = [() => store.close()];
  try {
    await store.migrate();
    const onDrop: DropCounter = (event, reason) => metrics.eventsDropped.inc({ event, reason });
    const webhooks = config.events.webhooks.map((hook) => new WebhookSink(hook, { logger, onDrop }));
    const events = new EventBus({ logger, store, webhooks, now, onDrop });
    closers.unshift(
      () => events.drain(2000),
      () => events.close(),
    );
    const hasher = new PasswordHasher(config.users.password_hash_cost);
    await bootstrapAdmin({
      store,
      hasher,
      policy: config.users.password_policy,
      adminUsername: config.users.admin_username,
      env,
      logger,
      now,
      ...(options.announce ? { announce: options.announce } : {}),
    });
    if (config.users.seed_file !== '') await seedUsers({ file: config.users.seed_file, store, hasher, logger, events, now });

    const gatewayKeys = await GatewayKeys.load(store, {
      issuer: config.server.public_url,
      now,
      logger: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => logger[level](msg, fields),
    });
    const userCache = new UserCache(store, { stats });
    const sessions = new SessionManager(store, userCache, { idleTimeoutMs: config.session.idle_timeout, maxLifetimeMs: config.session.max_lifetime, now, stats });
    const tokens = new ApiTokens(store, userCache, { now, stats });
    const socketGrants = new SocketGrants(store, { issuer: config.server.public_url, idleTimeoutMs: config.session.idle_timeout, now });
    const openSockets = new OpenSockets({ recheck: (grants) => socketGrants.recheck(grants), now, logger });
    closers.unshift(() => openSockets.close());
    const shared: Shared = { logger, metrics, store, events, hasher, userCache, sessions, tokens, gatewayKeys, socketGrants, openSockets, now, current: { registry: undefined }, closers };
    closers.unshift(watchChanges(shared));
    const registry = await assemble(config, shared);
    shared.current.registry = registry;
    return registry;
  } catch (err) {
    for (const close of closers) await Promise.resolve(close()).catch(() => undefined);
    throw err;
  }
}

/**
 * A registry for a new configuration that shares the running one's store, caches, signing keys
 * and open sockets (a reload, SPEC 1): what depends on the configuration is built anew. The
 * previous registry stays usable for the requests under way; retire() ends its own parts.
 */
export async function reconfigure(previous: Registry, config: Config): Promise<Registry> {
  const shared = (previous as WithShared)[SHARED];
  const registry = await assemble(config, shared);
  shared.current.registry = registry;
  return registry;
}

/** Ends what a replaced registry held of its own (directory pool, revalidation, JWKS), not the shared parts. */
export async function retire(registry: Registry): Promise<void> {
  await (registry as WithShared)[RETIRE]();
}

/** Change notifications reach the caches, the current registry's and the shared ones alike. */
function watchChanges(shared: Shared): () => void {
  const { store, userCache, sessions, tokens, gatewayKeys, openSockets, logger } = shared;
  return store.onChange((change) => {
    // Re-checked against the store itself (no cache to wait for): order does not matter.
    openSockets.changed(change);
    const current = shared.current.registry;
    if (change.key === '*') {
      userCache.invalidate('*');
      sessions.forgetAll();
      tokens.forgetAll();
      current?.passwords.forgetAll();
      current?.authenticator.forgetAll();
      // A rotation made elsewhere may have been missed too (only after a reconnect: a blind flush every 500 ms must not hit the store).
      if (change.kind === 'signing_key') void gatewayKeys.reload().catch((err: unknown) => logger.error('signing keys reload failed', { err: err as Error }));
      return;
    }
    switch (change.kind) {
      case 'user':
        userCache.invalidate(change.key);
        break;
      case 'session':
        sessions.forget(change.key);
        break;
      case 'token':
        tokens.forget(change.key);
        break;
      case 'signing_key':
        void gatewayKeys.reload().catch((err: unknown) => logger.error('signing keys reload failed', { err: err as Error }));
        break;
    }
  });
}

/** The parts built from the configuration, around the shared ones. */
async function assemble(config: Config, shared: Shared): Promise<Registry> {
  const { logger, metrics, store, events, hasher, userCache, sessions, tokens, gatewayKeys, now } = shared;
  const own: Array<() => Promise<void> | void> = [];
  const access = compileAccess(config.access);
  const privileged = privilegedRoles(config);
  const users = new UserService({ store, hasher, policy: config.users.password_policy, events, lockout: config.users.lockout, privilegedRoles: privileged, now });
  const recordLogin = (result: 'success' | 'failure', userType: string, reason: string): void => {
    metrics.logins.inc({ user_type: userType, result, reason });
  };
  const directory = config.ldap
    ? new LdapDirectory(config.ldap, {
        privilegedRoles: privileged,
        onOperation: (op, seconds) => metrics.ldapDuration.observe({ op }, seconds),
        logger: (level, msg, fields) => logger[level](msg, fields),
      })
    : undefined;
  if (directory) own.push(() => directory.close());
  // SPEC 18: every session and token of an ldap user re-checked against the directory.
  const revalidator =
    directory && config.ldap ? new DirectoryRevalidator({ config: config.ldap, store, directory, events, now, logger: (level, msg, fields) => logger[level](msg, fields) }) : undefined;
  if (revalidator) {
    revalidator.start();
    own.unshift(() => revalidator.stop());
  }
  const passwords = new PasswordChain({ config, store, users: userCache, hasher, events, logger, directory, recordLogin, now });
  const externalJwt =
    config.jwt_issuers.length > 0 ? new ExternalJwtVerifier(config.jwt_issuers, { now, privilegedRoles: privileged, logger: (level, msg, fields) => logger[level](msg, fields) }) : undefined;
  if (externalJwt) own.push(() => externalJwt.close());
  const federation: FederationContext = { privileged, directoryHasUser: directory ? (name) => directory.hasUser(name) : undefined };
  const authenticator = new Authenticator({ config, store, users: userCache, sessions, passwords, tokens, events, externalJwt, gatewayJwt: gatewayKeys, federation, recordLogin, now });

  const perUserRoutes = config.routes.filter((route) => route.upstream_auth?.per_user === true).map((route) => route.name);
  const upstreamCredentials = new UpstreamCredentialStore(store, config.server.secret_key === '' ? undefined : parseSecretKey(config.server.secret_key), perUserRoutes, now);
  const upstreamAuth = new UpstreamAuth(config.routes, {
    issuer: config.server.public_url,
    privileged,
    perUser: upstreamCredentials,
    now,
    logger: (level, msg, fields) => logger[level](msg, fields),
  });

  const retireOwn = async (): Promise<void> => {
    for (const close of own.splice(0)) {
      try {
        await close();
      } catch (err) {
        logger.warn('error while closing', { err: err as Error });
      }
    }
  };
  const registry: WithShared = {
    config,
    logger,
    metrics,
    store,
    events,
    hasher,
    users,
    userCache,
    sessions,
    tokens,
    passwords,
    authenticator,
    socketGrants: shared.socketGrants,
    openSockets: shared.openSockets,
    directory,
    revalidator,
    externalJwt,
    gatewayKeys,
    access,
    federation,
    routes: new RouteTable(config.routes),
    upstreamAuth,
    upstreamCredentials,
    headers: new HeaderPolicy(
      config.identity_headers,
      config.session.cookie_name,
      config.jwt_issuers.map((issuer) => issuer.handoff_cookie),
    ),
    trustedProxies: config.server.trusted_proxies.length > 0 ? trustedProxyList(config.server.trusted_proxies) : undefined,
    now,
    ready: true,
    close: async () => {
      registry.ready = false;
      await retireOwn();
      for (const close of shared.closers) {
        try {
          await close();
        } catch (err) {
          logger.warn('error while closing', { err: err as Error });
        }
      }
    },
    [SHARED]: shared,
    [RETIRE]: retireOwn,
  };
  return registry;
}

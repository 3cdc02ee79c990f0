/**
 * What the API routes take from the composition root (STYLE: a module takes the narrow
 * dependencies it uses, not the whole registry), and what the /.auth endpoint app hands every
 * request. The registry of src/app satisfies ApiRegistry as it is.
 */
import type { Request } from 'express';
import type { ApiTokens } from '../authn/api-tokens.js';
import type { Authentication } from '../authn/authenticate.js';
import type { GatewayKeys } from '../authn/gateway-keys.js';
import type { SessionManager } from '../authn/sessions.js';
import type { UserCache } from '../authn/user-cache.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { RequestFacts } from '../http/request-facts.js';
import type { Metrics } from '../observability/metrics.js';
import type { Store } from '../store/types.js';
import type { UpstreamCredentialStore } from '../users/upstream-credentials.js';
import type { UserService } from '../users/user-service.js';

export interface ApiRegistry {
  config: Config;
  store: Store;
  users: UserService;
  userCache: UserCache;
  sessions: SessionManager;
  tokens: ApiTokens;
  gatewayKeys: GatewayKeys;
  events: EventBus;
  metrics: Metrics;
  upstreamCredentials: UpstreamCredentialStore;
  now: () => number;
  /** Reloads the configuration file (SPEC 1), when the gateway runs from one. */
  reloadConfig?: (() => Promise<ReloadOutcome>) | undefined;
}

/** What a configuration reload did (app/reload.ts). */
export type ReloadOutcome = { ok: true; changed: string[]; restart_required: string[] } | { ok: false; problems: Array<{ path: string; message: string }> };

/** What the /.auth endpoint app attaches to every request. */
export interface EndpointContext {
  facts: RequestFacts;
  path: string;
  /** Authenticates the request once (memoised). */
  auth(): Promise<Authentication>;
}

export interface EndpointRequest extends Request {
  portcullis: EndpointContext;
}

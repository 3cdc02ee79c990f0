/**
 * The one source of truth for the configuration file (SPEC section 2). Validation, the
 * TypeScript type, `portcullis config check`, docs/configuration.md and the Helm
 * values.schema.json all derive from this schema. Unknown keys are errors everywhere.
 */
import { z } from 'zod';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { withDialectDefaults } from './ldap-dialects.js';

/**
 * The longest delay a Node.js timer honours (2^31-1 ms, about 24.8 days). setTimeout,
 * AbortSignal.timeout and socket timeouts fire after 1 ms when given more.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A duration string (`30s`, `15m`) parsed to milliseconds. A bare YAML number is refused rather
 * than read as milliseconds: `timeout: 30` means 30 seconds to most readers, 30 ms to a parser.
 */
export const duration = z
  // The pattern only describes the string for JSON Schema (Helm); parseDuration decides.
  .string({
    error: (issue) =>
      typeof issue.input === 'number'
        ? `a bare number is not a duration: write a string with a unit, e.g. "${issue.input}s" or "${issue.input}ms" (500ms, 30s, 15m, 8h, 7d)`
        : issue.input === undefined
          ? 'required: a duration such as 500ms, 30s, 15m, 8h, 7d'
          : 'must be a duration string such as 500ms, 30s, 15m, 8h, 7d',
  })
  .meta({ pattern: DURATION_PATTERN })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `not a duration: "${value}" (use e.g. 500ms, 30s, 15m, 8h, 7d)` });
      return z.NEVER;
    }
    return ms;
  });

/**
 * A duration that ends up in a timer (setTimeout, AbortSignal.timeout, a socket timeout): capped
 * at MAX_TIMER_MS, since Node.js shortens longer timers to 1 ms. Durations only compared with
 * timestamps (session lifetimes, lockout window, retention) use `duration` and stay uncapped.
 */
export const timerDuration = duration.refine((ms) => ms <= MAX_TIMER_MS, {
  error: `must be at most ${MAX_TIMER_MS}ms (about 24.8 days): Node.js fires longer timers after 1 ms`,
});

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1000, kib: 1024, mb: 1_000_000, mib: 1024 * 1024 };
/** A size in bytes: a number, or a string such as `64KiB`, `1MiB`, `500kB`. */
export const byteSize = z.union([
  z.number().int().positive(),
  z
    .string()
    .regex(/^\d+\s*(b|kb|kib|mb|mib)?$/i, 'must be a size such as 65536, 64KiB or 1MiB')
    .transform((text) => {
      const match = /^(\d+)\s*([a-z]*)$/i.exec(text) as RegExpExecArray;
      return Number(match[1]) * (SIZE_UNITS[(match[2] as string).toLowerCase()] ?? 1);
    }),
]);
const cidr = z.string().regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'must be an IP address or CIDR');
const roleName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.:-]+$/, 'role names use letters, digits, _ . : -');
/** `access.privileged_roles` when the file names none (SPEC 4). */
export const DEFAULT_PRIVILEGED_ROLES: readonly string[] = ['admin', 'api', 'org_admin'];
const httpUrl = z.string().regex(/^https?:\/\/[^\s/]+/, 'must be an http(s) URL');

export const serverSchema = z.strictObject({
  listen: z.string().default('127.0.0.1:8080'),
  public_url: httpUrl.default('http://localhost:8080'),
  trusted_proxies: z.array(cidr).default([]),
  shutdown_timeout: timerDuration.default(10_000),
  max_body_size: z
    .number()
    .int()
    .positive()
    .default(64 * 1024),
  /** Open connections the gateway listener holds at most (further ones are closed at once); 0: no limit. */
  max_connections: z.number().int().min(0).default(10_000),
  /** Header fields a request may carry; more is 431, never forwarded (SPEC 6). */
  max_header_count: z.number().int().min(1).max(1000).default(100),
  /** Bytes of a body the gateway reads to inspect it (a form body's `_method`, rule body conditions). */
  max_inspect_body: byteSize.default(64 * 1024),
  /** Upstream requests one client address (IPv6: one /64) may have in flight per route; 0: no limit. */
  max_upstream_sockets_per_client: z.number().int().min(0).default(128),
  /** Age after which the gateway's signing key is replaced (the old one stays published). */
  signing_key_rotation: duration.default(30 * 86_400_000),
  /**
   * 32 random bytes as 64 hex characters (`openssl rand -hex 32`): the AES-256-GCM key of the
   * per-user upstream credentials (SPEC 15). Required when a route's upstream_auth uses per_user.
   */
  secret_key: z.string().default(''),
  secret_key_file: z.string().default(''),
});

export const metricsSchema = z.strictObject({
  listen: z.string().default('127.0.0.1:9464'),
});

export const storeSchema = z.strictObject({
  url: z
    .string()
    .regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://')
    .default('sqlite:./data/portcullis.db'),
  /** The `url` twin (a postgres:// URL carries the database password): the file's text becomes `url`. */
  url_file: z.string().default(''),
});

export const passwordPolicySchema = z.strictObject({
  min_length: z.number().int().min(1).default(8),
  max_length: z.number().int().max(1024).default(64),
  require_upper: z.boolean().default(true),
  require_lower: z.boolean().default(true),
  require_digit_or_special: z.boolean().default(true),
});

export const lockoutSchema = z.strictObject({
  max_failures: z.number().int().min(1).default(5),
  window: duration.default(15 * 60_000),
  duration: duration.default(15 * 60_000),
});

export const usersSchema = z.strictObject({
  admin_username: z
    .string()
    .regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/, 'must match ^[a-zA-Z][a-zA-Z0-9_]{0,63}$')
    .default('admin'),
  seed_file: z.string().default(''),
  password_policy: passwordPolicySchema.prefault({}),
  lockout: lockoutSchema.prefault({}),
  /** scrypt cost parameter as log2(N); raise it later without breaking stored hashes. */
  password_hash_cost: z.number().int().min(10).max(20).default(15),
});

export const sessionSchema = z.strictObject({
  cookie_name: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default('portcullis_session'),
  idle_timeout: duration.default(2 * 3_600_000),
  max_lifetime: duration.default(24 * 3_600_000),
});

const roleList = z.array(roleName);
/** Attribute keys (SPEC 16). */
export const ATTRIBUTE_KEY = /^[a-z][a-z0-9_]{0,63}$/;
const attributeKey = z.string().regex(ATTRIBUTE_KEY, 'attribute keys match ^[a-z][a-z0-9_]{0,63}$');

export const ldapSchema = z.preprocess(
  withDialectDefaults,
  z.strictObject({
    /** The directory's dialect: its defaults, login-name forms and bind error codes (SPEC 18). */
    implementation: z.enum(['standard', 'activedirectory']).default('standard'),
    /** UPN suffixes whose `name@suffix` logins are the account `name` (activedirectory). */
    upn_suffixes: z.array(z.string().min(1).max(253)).default([]),
    /** NetBIOS domain whose `DOMAIN\\name` logins are the account `name` (activedirectory). */
    netbios_domain: z.string().max(15).default(''),
    url: z.union([z.string(), z.array(z.string()).min(1)]).default(''),
    start_tls: z.boolean().default(false),
    tls_ca_file: z.string().default(''),
    bind_dn: z.string().default(''),
    bind_password: z.string().default(''),
    bind_password_file: z.string().default(''),
    user_base: z.string().default(''),
    user_filter: z.string().default('(uid={username})'),
    user_dn_template: z.string().default(''),
    attributes: z
      .strictObject({
        username: z.string().default('uid'),
        name: z.string().default('cn'),
        email: z.string().default('mail'),
        /** The entry's stable id, stored as the user's directory_id (AD: objectGUID in its string form). */
        id: z.string().default('entryUUID'),
      })
      .prefault({}),
    group_base: z.string().default(''),
    group_filter: z.string().default('(member={dn})'),
    group_name_attribute: z.string().default('cn'),
    role_mapping: z.record(z.string(), roleList).default({}),
    project_mapping: z.record(z.string(), z.array(z.string().min(1))).default({}),
    default_roles: roleList.default(['user']),
    allow_privileged_roles: z.boolean().default(false),
    /** SPEC 16: attribute KEY → the LDAP attribute whose values it takes, read at every bind. */
    attribute_mapping: z.record(attributeKey, z.string().regex(/^[A-Za-z][A-Za-z0-9-]*(;[A-Za-z0-9-]+)*$/, 'must be an LDAP attribute name')).default({}),
    timeout: timerDuration.default(5000),
    cache_ttl: duration.default(60_000),
    cache_max: z.number().int().positive().default(10_000),
    /** Every session and token of an ldap user is re-checked against the directory at least this often. */
    refresh_interval: timerDuration.default(5 * 60_000),
    /** While the directory cannot be asked, sessions and tokens last this long after their last good check. */
    refresh_grace: duration.default(3_600_000),
    /** An entry matching this filter is disabled (AD: userAccountControl bit 2 counts too). */
    disabled_filter: z.string().default(''),
    /** An attribute whose change ends the user's sessions and tokens (WEKA). */
    revocation_attribute: z.string().default(''),
    /** Entries per page of a group search. */
    page_size: z.number().int().min(1).max(10_000).default(500),
    /** Bound service-account connections kept for searches. */
    pool_size: z.number().int().min(1).max(64).default(4),
  }),
);

export const jwtIssuerSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, _ and -'),
  issuer: z.string().min(1),
  audience: z.string().min(1),
  algorithms: z.array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'])).min(1),
  jwks_url: z.string().default(''),
  public_key_file: z.string().default(''),
  secret: z.string().default(''),
  secret_file: z.string().default(''),
  username_claim: z.string().default('sub'),
  roles_claim: z.string().default('roles'),
  projects_claim: z.string().default('projects'),
  name_claim: z.string().default('name'),
  email_claim: z.string().default('email'),
  /** SPEC 16: attribute KEY → claim (dot path); a string is one value, a list of strings its values. */
  attributes_claims: z.record(attributeKey, z.string().min(1).max(256)).default({}),
  users: z.enum(['provision', 'existing']).default('provision'),
  privileged_roles: z.enum(['reject', 'drop']).default('reject'),
  max_token_lifetime: duration.default(3_600_000),
  clock_tolerance: duration.default(30_000),
  handoff_cookie: z.string().default(''),
  /**
   * Origins (scheme://host[:port]) whose pages may post this issuer's tokens to /.auth/jwt, besides
   * the gateway's own and the issuer URL's. A browser hand-off from any other origin is refused
   * (login CSRF: a page signing its visitor in as someone else).
   */
  handoff_origins: z.array(z.string().regex(/^https?:\/\/[^/?#\s]+$/, 'must be an origin such as https://portal.example.org (no path)')).default([]),
  jwks_timeout: timerDuration.default(5000),
  jwks_cooldown: duration.default(30_000),
});

const headerName = z.string().regex(/^([A-Za-z0-9-]+)?$/, 'must be an HTTP header name or ""');
const headerNameRequired = z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name');
export const identityHeadersSchema = z.strictObject({
  user: headerName.default('X-Auth-User'),
  roles: headerName.default('X-Auth-Roles'),
  projects: headerName.default('X-Auth-Projects'),
  name: headerName.default('X-Auth-Name'),
  email: headerName.default('X-Auth-Email'),
  source: headerName.default('X-Auth-Source'),
  assertion: headerName.default('X-Auth-Assertion'),
  /** SPEC 16: attribute KEY → the header that carries its values, comma-separated. */
  attributes: z.record(attributeKey, z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name')).default({}),
});

/** One `upstream_auth` entry chosen by the caller's roles (basic accounts, header values and fallbacks). */
export const upstreamAccountSchema = z.strictObject({
  /** The caller must hold one of these; [] matches every caller. */
  roles: roleList.default([]),
  username: z.string().default(''),
  password: z.string().default(''),
  password_file: z.string().default(''),
  value: z.string().default(''),
  value_file: z.string().default(''),
});

/** SPEC 15: the credential the gateway presents to the backend, derived from the identity. */
export const upstreamAuthSchema = z.strictObject({
  type: z.enum(['jwt', 'basic', 'header']),
  // jwt
  algorithm: z.enum(['EdDSA', 'ES256', 'RS256', 'HS256', 'HS512']).optional(),
  /** Private key (PEM PKCS#8 or JWK) or, for HS*, the secret (at least 32 bytes). */
  key_file: z.string().default(''),
  lifetime: duration.default(5 * 60_000),
  claims: z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean(), z.array(z.string())])).default({}),
  deliver: z
    .strictObject({
      header: headerNameRequired.optional(),
      scheme: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .optional(),
      cookie: z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/)
        .optional(),
    })
    .optional(),
  // basic
  accounts: z.array(upstreamAccountSchema).default([]),
  // header
  name: headerNameRequired.optional(),
  values: z.array(upstreamAccountSchema).default([]),
  per_user: z.boolean().default(false),
  fallback: z.union([upstreamAccountSchema, z.array(upstreamAccountSchema)]).optional(),
});

export const routeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  host: z.string().default(''),
  path_prefix: z.string().startsWith('/').default('/'),
  upstream: z.string().regex(/^(https?:\/\/[^\s]+|builtin:echo)$/, 'must be http(s)://host:port or builtin:echo'),
  strip_prefix: z.boolean().default(false),
  preserve_host: z.boolean().default(false),
  websocket: z.boolean().default(true),
  timeout: timerDuration.default(60_000),
  pass_credentials: z.boolean().default(false),
  /** Connections to the upstream at once; requests beyond wait in a bounded queue (as many), then 503. */
  max_sockets: z.number().int().min(1).max(65_536).default(1024),
  /** Lower-case the path for matching (not for forwarding), for backends that ignore case. */
  case_insensitive_paths: z.boolean().default(false),
  /** The backend's own credential, made by the gateway for every forwarded request (SPEC 15). */
  upstream_auth: upstreamAuthSchema.optional(),
  /** false: no identity headers and no X-Auth-Assertion on this route (SPEC 15). */
  identity_headers: z.boolean().default(true),
  /** Read InfluxDB v1's `u` and `p` query parameters as Basic, removed from the forwarded query (SPEC 3). */
  query_credentials: z.boolean().default(false),
});

/** A condition's value pattern(s): a glob, literal text, or one placeholder as the whole value. */
const valuePatterns = z.union([z.string().max(512), z.array(z.string().max(512)).min(1).max(64)]);
const methodName = z
  .string()
  .regex(/^[A-Za-z]+$/)
  .transform((m) => m.toUpperCase());

export const ruleSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/),
  hosts: z.array(z.string().min(1)).default([]),
  paths: z.array(z.string().min(1)).min(1),
  methods: z.array(methodName).default([]),
  policy: z.enum(['public', 'authenticated', 'grant', 'deny']).default('authenticated'),
  roles: roleList.default([]),
  /** A window (`per`), or without `per` a budget that never resets by itself (SPEC 5). */
  quota: z.strictObject({ requests: z.number().int().positive(), per: duration.optional() }).optional(),
  // Conditions (SPEC 5): all must hold for the rule to match.
  query: z.record(z.string().min(1).max(128), valuePatterns).optional(),
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]{1,128}$/, 'must be an HTTP header name'), valuePatterns).optional(),
  body: z.record(z.string().min(1).max(128), valuePatterns).optional(),
  sql: z.enum(['read_only']).optional(),
  networks: z.array(cidr).min(1).optional(),
  attributes: z.record(attributeKey, z.array(z.string().min(1).max(256)).min(1)).optional(),
});

export const accessSchema = z.strictObject({
  default_policy: z.enum(['deny', 'authenticated']).default('deny'),
  /** Roles no external source (JWT issuer, directory mapping without allow_privileged_roles) ever grants (SPEC 4). */
  privileged_roles: roleList.default([...DEFAULT_PRIVILEGED_ROLES]),
  rules: z.array(ruleSchema).default([]),
});

export const webhookSchema = z.strictObject({
  url: httpUrl,
  secret: z.string().default(''),
  secret_file: z.string().default(''),
  types: z.array(z.string()).default([]),
  timeout: timerDuration.default(5000),
  max_attempts: z.number().int().min(1).max(20).default(5),
});

export const eventsSchema = z.strictObject({
  webhooks: z.array(webhookSchema).default([]),
  retention: duration.default(90 * 86_400_000),
});

export const configSchema = z.strictObject({
  server: serverSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  store: storeSchema.prefault({}),
  users: usersSchema.prefault({}),
  session: sessionSchema.prefault({}),
  ldap: ldapSchema.optional(),
  jwt_issuers: z.array(jwtIssuerSchema).default([]),
  identity_headers: identityHeadersSchema.prefault({}),
  anonymous_user: z.string().default(''),
  routes: z.array(routeSchema).default([]),
  access: accessSchema.prefault({}),
  events: eventsSchema.prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type LdapConfig = z.output<typeof ldapSchema>;
export type JwtIssuerConfig = z.output<typeof jwtIssuerSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type UpstreamAuthConfig = z.output<typeof upstreamAuthSchema>;
export type UpstreamAccountConfig = z.output<typeof upstreamAccountSchema>;
export type RuleConfig = z.output<typeof ruleSchema>;
export type AccessConfig = z.output<typeof accessSchema>;
export type IdentityHeadersConfig = z.output<typeof identityHeadersSchema>;
export type PasswordPolicy = z.output<typeof passwordPolicySchema>;
/** `users.lockout` (SPEC 3): failures of one name within `window` lock it for `duration`. */
export type LockoutPolicy = z.output<typeof lockoutSchema>;
export type WebhookConfig = z.output<typeof webhookSchema>;

/**
 * The roles every `access.privileged_roles` list must hold (SPEC 4): no external source can
 * ever grant them, whatever the operator configures.
 */
export const MINIMUM_PRIVILEGED_ROLES: readonly string[] = ['admin', 'api'];

/** The configured privileged roles as a set (`access.privileged_roles`). */
export function privilegedRoles(config: Pick<Config, 'access'>): ReadonlySet<string> {
  return new Set(config.access.privileged_roles);
}

/** The longest quota window (`access.rules[].quota.per`): the store keeps a window's counter this long. */
export const MAX_QUOTA_WINDOW_MS = 366 * 86_400_000;

/**
 * The dialect-neutral store contract. SQLite (embedded, one instance) and PostgreSQL (any
 * number of replicas) implement it; nothing above this file knows which one runs.
 * Times are epoch milliseconds. Usernames are unique case-insensitively (`username_key`).
 */

export type UserSource = 'local' | 'ldap' | `jwt:${string}`;

export interface Grant {
  paths: string[];
  methods: string[];
}

export interface UserRecord {
  username: string;
  name: string;
  email: string;
  roles: string[];
  /** Roles that came from a directory mapping (LDAP): refreshed at login; the rest were set by an admin and kept. */
  mapped_roles: string[];
  projects: string[];
  mapped_projects: string[];
  source: UserSource;
  /** Self-describing KDF hash, or null for password-less users (api-only, ldap, jwt). */
  password_hash: string | null;
  disabled: boolean;
  must_change_password: boolean;
  grants: Grant[];
  quotas: Record<string, number>;
  /** SPEC 16: attribute KEY → its values. */
  attributes: Record<string, string[]>;
  /** Attribute keys a source (LDAP attribute_mapping, a JWT issuer's attributes_claims) set: replaced at each login; the rest were set by an admin and kept. */
  mapped_attributes: string[];
  /** Bumped on every change that must end sessions and tokens (password, roles, disable). */
  auth_version: number;
  created_at: number;
  updated_at: number;
  last_login_at: number | null;
  /** ldap users: the directory entry's stable id ('' until known), SPEC 18. */
  directory_id: string;
  /** ldap users: the last good check against the directory (login or revalidation). */
  directory_checked_at: number | null;
  /** ldap users: ldap.revocation_attribute's value at that check. */
  directory_revocation: string;
}

export type LoginAttemptId = string | number;

/** A reserved password guess (admitted, with the name's failures in the window counting it), or a refusal. */
export type LoginAttempt = { admitted: true; id: LoginAttemptId; failures: number } | { admitted: false };

export type NewUser = Omit<UserRecord, 'auth_version' | 'created_at' | 'updated_at' | 'last_login_at' | 'directory_id' | 'directory_checked_at' | 'directory_revocation'> & { now: number };

/** What a good check against the directory recorded for an ldap user (SPEC 18). */
export interface DirectoryState {
  directory_id: string;
  revocation: string;
  checked_at: number;
}

export type UserPatch = Partial<
  Pick<
    UserRecord,
    | 'name'
    | 'email'
    | 'roles'
    | 'mapped_roles'
    | 'projects'
    | 'mapped_projects'
    | 'password_hash'
    | 'disabled'
    | 'must_change_password'
    | 'grants'
    | 'quotas'
    | 'attributes'
    | 'mapped_attributes'
    | 'last_login_at'
  >
> & {
  /** When true, auth_version is bumped and all sessions/tokens of the user are ended. */
  end_sessions?: boolean;
  /**
   * When true, the update is refused with `last_admin` if it would leave no enabled admin.
   * The check and the write are one serialised transaction, so two concurrent demotions or
   * disables can never both pass it.
   */
  guard_last_admin?: boolean;
  now: number;
};

export interface DeleteUserOptions {
  /** As UserPatch.guard_last_admin: refuse (`last_admin`) to delete the last enabled admin. */
  guard_last_admin?: boolean;
}

export interface CreateTokenOptions {
  /**
   * Refuse (`conflict`) when the user already holds this many active tokens (neither revoked
   * nor expired at the new token's created_at). The count and the insert are one transaction,
   * serialised per user, so concurrent creations on any replica can never overshoot it. The same
   * transaction keeps only the user's newest `maxActive` revoked tokens: revoking frees a place,
   * and "create, revoke, repeat" must not grow the user's rows (and GET /tokens) without bound. A
   * revoked token whose row is gone is as invalid as before.
   */
  maxActive?: number;
}

/** What applying one seed-file entry did (SPEC 9: each seeded user is created once). */
export type SeedOutcome = 'created' | 'exists' | 'seeded_before';

export interface UserQuery {
  q?: string;
  role?: string;
  source?: string;
  limit: number;
  offset: number;
}

export interface SessionRecord {
  id_hash: string;
  username: string;
  auth_version: number;
  method: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
}

export interface TokenRecord {
  id: string;
  token_hash: string;
  username: string;
  name: string;
  kind: 'opaque' | 'jwt';
  auth_version: number;
  created_at: number;
  expires_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  /**
   * A scoped token (SPEC 8) reaches only what every one of these grants allows, on top of what
   * its user may reach; null: unscoped. More than one when a scoped token minted a token with a
   * scope of its own: the new one carries both (never broader than its creator).
   */
  scope: Grant[] | null;
  /** GET and HEAD only. */
  read_only: boolean;
}

export interface SigningKeyRecord {
  kid: string;
  alg: 'ES256' | 'EdDSA';
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  /** After this the key no longer signs; it stays published until `expires_at`. */
  retired_at: number | null;
  expires_at: number | null;
}

export interface EventRecord {
  id?: number;
  type: string;
  time: number;
  username: string | null;
  data: Record<string, unknown>;
}

export interface EventQuery {
  type?: string;
  username?: string;
  since?: number;
  limit: number;
  offset?: number;
}

/** What changed, published to every replica (PostgreSQL LISTEN/NOTIFY, in-process for SQLite). */
export interface StoreChange {
  kind: 'user' | 'session' | 'token' | 'signing_key';
  /** username (lower-case key) for user/session/token-of-user, id_hash/token id otherwise; '*' for all. */
  key: string;
}

/** A per-user upstream credential as stored (SPEC 15): AES-256-GCM, base64 fields. */
export interface SealedCredential {
  ciphertext: string;
  iv: string;
  tag: string;
}

export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
  onChange(listener: (change: StoreChange) => void): () => void;

  getUser(username: string): Promise<UserRecord | undefined>;
  listUsers(query: UserQuery): Promise<{ users: UserRecord[]; total: number }>;
  /**
   * Throws PortcullisError conflict when the name exists case-insensitively. A new user's
   * auth_version starts at a random value, never at the one a deleted namesake had, so no
   * session or token of a predecessor can match it.
   */
  createUser(user: NewUser): Promise<UserRecord>;
  /** Returns false when the user exists already (seeding never overwrites). */
  createUserIfAbsent(user: NewUser): Promise<boolean>;
  updateUser(username: string, patch: UserPatch): Promise<UserRecord | undefined>;
  /** Deletes the user with its sessions and tokens in one transaction. */
  deleteUser(username: string, options?: DeleteUserOptions): Promise<boolean>;
  /** Enabled admins who can act as one: source local or ldap (a jwt: record never holds admin, SPEC 3). */
  countEnabledAdmins(): Promise<number>;
  /** Stores (replaces) a user's credential for a route; false when the user does not exist. */
  putUpstreamCredential(username: string, route: string, sealed: SealedCredential, now: number): Promise<boolean>;
  getUpstreamCredential(username: string, route: string): Promise<SealedCredential | undefined>;
  /** The routes a user has a stored credential for (names only). */
  listUpstreamCredentialRoutes(username: string): Promise<string[]>;
  deleteUpstreamCredential(username: string, route: string): Promise<boolean>;
  countUsers(): Promise<number>;

  /** Lower-case usernames of the seed-file entries applied so far. */
  seededUsers(): Promise<string[]>;
  /**
   * Applies one seed entry once: records it and creates the user unless the name exists.
   * An entry recorded before is never applied again, even when its user was deleted since.
   */
  seedUser(user: NewUser): Promise<SeedOutcome>;

  /**
   * Stores a session only while its user exists at `auth_version` (checked in the same
   * statement, holding the user row): otherwise throws PortcullisError unauthenticated.
   */
  createSession(session: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  touchSession(idHash: string, lastSeenAt: number): Promise<void>;
  deleteSession(idHash: string): Promise<void>;
  deleteSessionsOfUser(username: string): Promise<number>;

  /**
   * As createSession: stored only while the user exists at `auth_version`, else
   * unauthenticated; with `maxActive`, refused with conflict when the user is at the cap.
   */
  createToken(token: TokenRecord, options?: CreateTokenOptions): Promise<void>;
  getTokenByHash(tokenHash: string): Promise<TokenRecord | undefined>;
  getToken(id: string): Promise<TokenRecord | undefined>;
  listTokens(username?: string): Promise<TokenRecord[]>;
  touchToken(id: string, lastUsedAt: number): Promise<void>;
  revokeToken(id: string, now: number): Promise<boolean>;
  revokeTokensOfUser(username: string, now: number): Promise<number>;

  clearLoginFailures(username: string): Promise<void>;
  /**
   * Reserves one password guess for the name before it is checked, atomically across replicas:
   * refused while the name is locked (`locked_until > now`) or while its failures since
   * `windowStart` (reserved guesses still being checked included) reach `maxFailures`; after a
   * lockout has ended with failures still in the window, one guess at a time. An admitted guess
   * is stored as a failure up front (`failures` counts it); a success clears it with
   * clearLoginFailures, a guess that was never checked gives it back with releaseLoginAttempt.
   */
  reserveLoginAttempt(username: string, now: number, windowStart: number, maxFailures: number): Promise<LoginAttempt>;
  /** Gives back a reservation of reserveLoginAttempt (the guess was not checked). */
  releaseLoginAttempt(username: string, id: LoginAttemptId): Promise<void>;
  setLockout(username: string, until: number): Promise<void>;
  getLockout(username: string): Promise<number | undefined>;

  /** Fixed-window counter: increments and returns the count of `key` in the window starting at `windowStart`. */
  incrementQuota(key: string, windowStart: number): Promise<number>;
  /** Records a good check against the directory (id, revocation value, time); releases a claim. */
  setDirectoryState(username: string, state: DirectoryState): Promise<void>;
  /**
   * Claims, for `claimMs`, up to `limit` ldap users with a session or token still valid at `now`
   * whose last good check is older than `checkedBefore` (or who were never checked), and that no
   * other replica holds a claim on: each replica revalidates different users.
   */
  claimRevalidation(now: number, checkedBefore: number, claimMs: number, limit: number): Promise<UserRecord[]>;
  /** Gives a claim back without recording a check (the directory could not answer). */
  releaseRevalidation(username: string): Promise<void>;
  /** The count of `key` in the window starting at `windowStart` (0 when none was counted). */
  quotaCount(key: string, windowStart: number): Promise<number>;
  /** Forgets every window of `key` (a budget starts afresh). */
  resetQuota(key: string): Promise<void>;

  /** Returns true the first time (issuer, jti) is seen; false on replay. */
  recordJti(issuer: string, jti: string, expiresAt: number): Promise<boolean>;

  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Inserts unless a key with the kid exists; returns the stored keys after the call. */
  insertSigningKey(key: SigningKeyRecord): Promise<void>;
  retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void>;

  insertEvent(event: EventRecord): Promise<void>;
  listEvents(query: EventQuery): Promise<{ events: EventRecord[]; total: number }>;

  /**
   * Deletes expired sessions, tokens past expiry, jti records, counters and old events, and the
   * failed-login bookkeeping older than `failuresBefore` (the lockout window: a failure outside
   * it counts for nothing) with the lockouts that have ended (default: 30 days back). Budgets
   * (counters under a negative window start) are kept.
   */
  purge(now: number, eventsBefore: number, failuresBefore?: number): Promise<void>;
}

export function userKey(username: string): string {
  return username.toLowerCase();
}

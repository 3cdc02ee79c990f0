/**
 * The one Store implementation, written once in SQL both SQLite and PostgreSQL understand
 * (`$n` placeholders, ON CONFLICT, RETURNING); dialect differences stay in the drivers.
 * Every change other replicas' caches must see is published inside its transaction.
 */
import { createHash, randomInt } from 'node:crypto';
import { MAX_QUOTA_WINDOW_MS } from '../config/schema.js';
import { PortcullisError } from '../errors/errors.js';
import type { ChangeHub } from './change-hub.js';
import type { SqlDriver, SqlExecutor, SqlTransaction } from './sql-driver.js';
import { likePattern, num, numOrNull, toEvent, toSession, toSigningKey, toToken, toUser } from './sql-rows.js';
import type {
  CreateTokenOptions,
  DirectoryState,
  DeleteUserOptions,
  EventQuery,
  EventRecord,
  LoginAttempt,
  LoginAttemptId,
  NewUser,
  SealedCredential,
  SeedOutcome,
  SessionRecord,
  SigningKeyRecord,
  Store,
  StoreChange,
  TokenRecord,
  UserPatch,
  UserQuery,
  UserRecord,
} from './types.js';
import { userKey } from './types.js';

/** Patchable user columns: name → how the value is stored. */
const PATCH_COLUMNS = {
  name: 'plain',
  email: 'plain',
  roles: 'json',
  mapped_roles: 'json',
  projects: 'json',
  mapped_projects: 'json',
  password_hash: 'plain',
  disabled: 'plain',
  must_change_password: 'plain',
  grants: 'json',
  quotas: 'json',
  attributes: 'json',
  mapped_attributes: 'json',
  last_login_at: 'plain',
} as const satisfies Record<Exclude<keyof UserPatch, 'end_sessions' | 'guard_last_admin' | 'now'>, 'plain' | 'json'>;

/** Quota windows older than this are dropped by purge even when no newer window replaced them. */
/** A quota counter is kept as long as the longest window config allows. */
const QUOTA_RETENTION_MS = MAX_QUOTA_WINDOW_MS;
/** Login failures older than this are dropped by purge at the latest (reserveLoginAttempt prunes per name too). */
const FAILURE_RETENTION_MS = 30 * 24 * 3_600_000;
/** Advisory lock key ("pcla") of the transactions that may take away an enabled admin. */
const ADMIN_LOCK_KEY = 0x70636c61;

/**
 * Advisory lock key of the transactions that count and add API tokens of one user: 48 bits of
 * SHA-256 over 'tokens:' + the user key, above 2^32 so it never meets the fixed 32-bit keys
 * (ADMIN_LOCK_KEY, the migration lock) and below 2^53, exact in a JS number and a BIGINT. Two
 * users sharing a key only wait for each other.
 */
function tokensLockKey(key: string): number {
  return 2 ** 32 + createHash('sha256').update(`tokens:${key}`).digest().readUIntBE(0, 6);
}

/**
 * First auth_version of a new user: random in [1, 2^48), so a user created under the name of
 * a deleted one never matches the sessions and tokens of its predecessor (bumps stay far
 * below 2^53, exact in JS numbers, SQLite INTEGER and PostgreSQL BIGINT).
 */
function firstAuthVersion(): number {
  return randomInt(1, 2 ** 48);
}

/**
 * An admin who can act as one: enabled, and local or from the directory. A `jwt:` record never
 * counts, whatever its roles say: its identity never holds admin (SPEC 3).
 */
function isEnabledAdmin(user: UserRecord): boolean {
  return !user.disabled && user.roles.includes('admin') && (user.source === 'local' || user.source === 'ldap');
}

/** A session or token for a user that is gone or has moved on: fail closed. */
function staleCredential(): PortcullisError {
  return new PortcullisError('unauthenticated', 'The account was changed or deleted meanwhile: sign in again');
}

export class SqlStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  private readonly driver: SqlDriver;
  private readonly hub: ChangeHub;
  private closing: Promise<void> | undefined;

  constructor(driver: SqlDriver, hub: ChangeHub) {
    this.driver = driver;
    this.hub = hub;
    this.dialect = driver.dialect;
  }

  migrate(): Promise<void> {
    return this.driver.migrate();
  }

  async ping(): Promise<void> {
    await this.driver.query('SELECT 1');
  }

  close(): Promise<void> {
    this.closing ??= this.driver.close();
    return this.closing;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.hub.subscribe(listener);
  }

  // ---- users ------------------------------------------------------------------------------

  async getUser(username: string): Promise<UserRecord | undefined> {
    const { rows } = await this.driver.query('SELECT * FROM users WHERE username_key = $1', [userKey(username)]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  async listUsers(query: UserQuery): Promise<{ users: UserRecord[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.q) {
      params.push(likePattern(query.q));
      const p = `$${params.length}`;
      where.push(`(username_key LIKE ${p} ESCAPE '\\' OR lower(name) LIKE ${p} ESCAPE '\\' OR lower(email) LIKE ${p} ESCAPE '\\')`);
    }
    if (query.role) {
      params.push(query.role);
      where.push(this.driver.jsonArrayContains('roles', `$${params.length}`));
    }
    if (query.source) {
      params.push(query.source);
      where.push(`source = $${params.length}`);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const count = await this.driver.query(`SELECT COUNT(*) AS total FROM users ${clause}`, params);
    const page = [...params, Math.max(0, Math.floor(query.limit)), Math.max(0, Math.floor(query.offset))];
    const { rows } = await this.driver.query(`SELECT * FROM users ${clause} ORDER BY username_key LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, page);
    return { users: rows.map(toUser), total: num(count.rows[0]?.total ?? 0) };
  }

  async createUser(user: NewUser): Promise<UserRecord> {
    const created = await this.driver.transaction(async (tx) => {
      const row = await this.insertUser(tx, user);
      if (row) await tx.publish({ kind: 'user', key: userKey(user.username) });
      return row;
    });
    if (!created) throw new PortcullisError('conflict', 'User already exists', { fields: { username: 'already exists' } });
    return created;
  }

  async createUserIfAbsent(user: NewUser): Promise<boolean> {
    return this.driver.transaction(async (tx) => {
      const row = await this.insertUser(tx, user);
      if (row) await tx.publish({ kind: 'user', key: userKey(user.username) });
      return row !== undefined;
    });
  }

  async updateUser(username: string, patch: UserPatch): Promise<UserRecord | undefined> {
    const key = userKey(username);
    const sets: string[] = [];
    const params: unknown[] = [];
    for (const [column, storage] of Object.entries(PATCH_COLUMNS)) {
      const value = (patch as Record<string, unknown>)[column];
      if (value === undefined) continue;
      params.push(storage === 'json' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${params.length}`);
    }
    params.push(patch.now);
    sets.push(`updated_at = $${params.length}`);
    if (patch.end_sessions) sets.push('auth_version = auth_version + 1');
    params.push(key);
    return this.driver.transaction(async (tx) => {
      let before: UserRecord | undefined;
      if (patch.guard_last_admin) {
        await this.driver.serialise(tx, ADMIN_LOCK_KEY);
        const found = await tx.query('SELECT * FROM users WHERE username_key = $1', [key]);
        if (!found.rows[0]) return undefined;
        before = toUser(found.rows[0]);
      }
      const { rows } = await tx.query(`UPDATE users SET ${sets.join(', ')} WHERE username_key = $${params.length} RETURNING *`, params);
      if (!rows[0]) return undefined;
      const updated = toUser(rows[0]);
      if (before && isEnabledAdmin(before) && !isEnabledAdmin(updated)) await this.assertAnEnabledAdmin(tx);
      if (patch.end_sessions) await this.endSessionsOf(tx, key, patch.now);
      // SPEC 15: disabling a user deletes its per-user upstream credentials.
      if (patch.disabled === true) await tx.query('DELETE FROM upstream_credentials WHERE username_key = $1', [key]);
      await tx.publish({ kind: 'user', key });
      return updated;
    });
  }

  async deleteUser(username: string, options: DeleteUserOptions = {}): Promise<boolean> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      if (options.guard_last_admin) await this.driver.serialise(tx, ADMIN_LOCK_KEY);
      const { rows } = await tx.query('DELETE FROM users WHERE username_key = $1 RETURNING *', [key]);
      if (!rows[0]) return false;
      if (options.guard_last_admin && isEnabledAdmin(toUser(rows[0]))) await this.assertAnEnabledAdmin(tx);
      // The user row is gone (and held until commit): no session or token can be added for it.
      await tx.query('DELETE FROM sessions WHERE username_key = $1', [key]);
      await tx.query('DELETE FROM tokens WHERE username_key = $1', [key]);
      await tx.query('DELETE FROM upstream_credentials WHERE username_key = $1', [key]);
      await tx.publish({ kind: 'user', key });
      return true;
    });
  }

  // ---- per-user upstream credentials (SPEC 15) ------------------------------------------

  async putUpstreamCredential(username: string, route: string, sealed: SealedCredential, now: number): Promise<boolean> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      // Written only while the user exists (and held until commit): a delete cannot leave it behind.
      const { rowCount } = await tx.query(
        `INSERT INTO upstream_credentials (username_key, route, ciphertext, iv, tag, updated_at)
         SELECT $1, $2, $3, $4, $5, $6 FROM users WHERE username_key = $1${this.driver.shareRowsClause}
         ON CONFLICT (username_key, route) DO UPDATE SET ciphertext = excluded.ciphertext, iv = excluded.iv, tag = excluded.tag, updated_at = excluded.updated_at`,
        [key, route, sealed.ciphertext, sealed.iv, sealed.tag, now],
      );
      if (rowCount === 0) return false;
      await tx.publish({ kind: 'user', key });
      return true;
    });
  }

  async getUpstreamCredential(username: string, route: string): Promise<SealedCredential | undefined> {
    const { rows } = await this.driver.query('SELECT ciphertext, iv, tag FROM upstream_credentials WHERE username_key = $1 AND route = $2', [userKey(username), route]);
    const row = rows[0];
    return row ? { ciphertext: String(row.ciphertext), iv: String(row.iv), tag: String(row.tag) } : undefined;
  }

  async listUpstreamCredentialRoutes(username: string): Promise<string[]> {
    const { rows } = await this.driver.query('SELECT route FROM upstream_credentials WHERE username_key = $1 ORDER BY route', [userKey(username)]);
    return rows.map((row) => String(row.route));
  }

  async deleteUpstreamCredential(username: string, route: string): Promise<boolean> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM upstream_credentials WHERE username_key = $1 AND route = $2', [key, route]);
      if (rowCount === 0) return false;
      await tx.publish({ kind: 'user', key });
      return true;
    });
  }

  async countEnabledAdmins(): Promise<number> {
    return this.enabledAdmins(this.driver);
  }

  /** Enabled admins as isEnabledAdmin counts them. */
  private async enabledAdmins(executor: SqlExecutor): Promise<number> {
    const { rows } = await executor.query(`SELECT COUNT(*) AS total FROM users WHERE disabled = $1 AND source IN ('local', 'ldap') AND ${this.driver.jsonArrayContains('roles', '$2')}`, [
      false,
      'admin',
    ]);
    return num(rows[0]?.total ?? 0);
  }

  async countUsers(): Promise<number> {
    const { rows } = await this.driver.query('SELECT COUNT(*) AS total FROM users');
    return num(rows[0]?.total ?? 0);
  }

  async seededUsers(): Promise<string[]> {
    const { rows } = await this.driver.query('SELECT username_key FROM seeded_users ORDER BY username_key');
    return rows.map((row) => String(row.username_key));
  }

  async seedUser(user: NewUser): Promise<SeedOutcome> {
    const key = userKey(user.username);
    return this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('INSERT INTO seeded_users (username_key, seeded_at) VALUES ($1, $2) ON CONFLICT (username_key) DO NOTHING', [key, user.now]);
      if (rowCount === 0) return 'seeded_before';
      const row = await this.insertUser(tx, user);
      if (!row) return 'exists';
      await tx.publish({ kind: 'user', key });
      return 'created';
    });
  }

  // ---- sessions ---------------------------------------------------------------------------

  async createSession(session: SessionRecord): Promise<void> {
    // One statement: the row is written only while the user exists at this auth_version, and
    // (PostgreSQL) the user row is held until commit, so a concurrent delete or revoke either
    // waits and then removes this row, or runs first and this inserts nothing.
    const { rowCount } = await this.driver.query(
      `INSERT INTO sessions (id_hash, username, username_key, auth_version, method, created_at, last_seen_at, expires_at)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM users WHERE username_key = $3 AND auth_version = $4${this.driver.shareRowsClause}`,
      [session.id_hash, session.username, userKey(session.username), session.auth_version, session.method, session.created_at, session.last_seen_at, session.expires_at],
    );
    if (rowCount !== 1) throw staleCredential();
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const { rows } = await this.driver.query('SELECT * FROM sessions WHERE id_hash = $1', [idHash]);
    return rows[0] ? toSession(rows[0]) : undefined;
  }

  async touchSession(idHash: string, lastSeenAt: number): Promise<void> {
    await this.driver.query('UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2 AND last_seen_at < $1', [lastSeenAt, idHash]);
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.driver.transaction(async (tx) => {
      await tx.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
      await tx.publish({ kind: 'session', key: idHash });
    });
  }

  async deleteSessionsOfUser(username: string): Promise<number> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('DELETE FROM sessions WHERE username_key = $1', [key]);
      await tx.publish({ kind: 'user', key });
      return rowCount;
    });
  }

  // ---- API tokens -------------------------------------------------------------------------

  async createToken(token: TokenRecord, options: CreateTokenOptions = {}): Promise<void> {
    const key = userKey(token.username);
    await this.driver.transaction(async (tx) => {
      if (options.maxActive !== undefined) {
        // Serialised per user: the count and the insert it allows are one step on every replica.
        await this.driver.serialise(tx, tokensLockKey(key));
        const { rows } = await tx.query('SELECT COUNT(*) AS total FROM tokens WHERE username_key = $1 AND revoked_at IS NULL AND expires_at > $2', [key, token.created_at]);
        if (num(rows[0]?.total ?? 0) >= options.maxActive) {
          throw new PortcullisError('conflict', `A user may hold at most ${options.maxActive} active API tokens; revoke one before creating another`);
        }
        await tx.query(
          `DELETE FROM tokens WHERE username_key = $1 AND revoked_at IS NOT NULL AND id NOT IN
             (SELECT id FROM tokens WHERE username_key = $1 AND revoked_at IS NOT NULL ORDER BY revoked_at DESC, id DESC LIMIT $2)`,
          [key, options.maxActive],
        );
      }
      // Conditional on the user at this auth_version, as createSession.
      const { rowCount } = await tx.query(
        `INSERT INTO tokens (id, token_hash, username, username_key, name, kind, auth_version, created_at, expires_at, last_used_at, revoked_at, scope, read_only)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM users WHERE username_key = $4 AND auth_version = $7${this.driver.shareRowsClause}`,
        [
          token.id,
          token.token_hash,
          token.username,
          key,
          token.name,
          token.kind,
          token.auth_version,
          token.created_at,
          token.expires_at,
          token.last_used_at,
          token.revoked_at,
          token.scope === null ? null : JSON.stringify(token.scope),
          token.read_only,
        ],
      );
      if (rowCount !== 1) throw staleCredential();
    });
  }

  async getTokenByHash(tokenHash: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.driver.query('SELECT * FROM tokens WHERE token_hash = $1', [tokenHash]);
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  async getToken(id: string): Promise<TokenRecord | undefined> {
    const { rows } = await this.driver.query('SELECT * FROM tokens WHERE id = $1', [id]);
    return rows[0] ? toToken(rows[0]) : undefined;
  }

  async listTokens(username?: string): Promise<TokenRecord[]> {
    const { rows } =
      username === undefined
        ? await this.driver.query('SELECT * FROM tokens ORDER BY created_at DESC, id')
        : await this.driver.query('SELECT * FROM tokens WHERE username_key = $1 ORDER BY created_at DESC, id', [userKey(username)]);
    return rows.map(toToken);
  }

  async touchToken(id: string, lastUsedAt: number): Promise<void> {
    await this.driver.query('UPDATE tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)', [lastUsedAt, id]);
  }

  async revokeToken(id: string, now: number): Promise<boolean> {
    return this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
      if (rowCount > 0) await tx.publish({ kind: 'token', key: id });
      return rowCount > 0;
    });
  }

  async revokeTokensOfUser(username: string, now: number): Promise<number> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('UPDATE tokens SET revoked_at = $1 WHERE username_key = $2 AND revoked_at IS NULL', [now, key]);
      await tx.publish({ kind: 'user', key });
      return rowCount;
    });
  }

  // ---- lockout, quotas, replay ------------------------------------------------------------

  async reserveLoginAttempt(username: string, now: number, windowStart: number, maxFailures: number): Promise<LoginAttempt> {
    const key = userKey(username);
    return this.driver.transaction(async (tx) => {
      // Upserting the name's lockout row locks it (PostgreSQL; SQLite's BEGIN IMMEDIATE already
      // runs this alone): reservations for one name take their turn on every replica.
      const { rows: lockRows } = await tx.query(
        'INSERT INTO lockouts (username_key, locked_until) VALUES ($1, NULL) ON CONFLICT (username_key) DO UPDATE SET username_key = excluded.username_key RETURNING locked_until',
        [key],
      );
      const lockedUntil = numOrNull(lockRows[0]?.locked_until) ?? 0;
      if (lockedUntil > now) return { admitted: false };
      await tx.query('DELETE FROM login_failures WHERE username_key = $1 AND failed_at < $2', [key, windowStart]);
      const { rows } = await tx.query('SELECT COUNT(*) AS total, COUNT(CASE WHEN failed_at >= $3 THEN 1 END) AS since_unlock FROM login_failures WHERE username_key = $1 AND failed_at >= $2', [
        key,
        windowStart,
        lockedUntil,
      ]);
      const total = num(rows[0]?.total ?? 0);
      // At the limit with no guess since the last lockout ended: that one guess may go ahead
      // (and locks the name again if it fails).
      if (total >= maxFailures && num(rows[0]?.since_unlock ?? 0) > 0) return { admitted: false };
      const { rows: inserted } = await tx.query('INSERT INTO login_failures (username_key, failed_at) VALUES ($1, $2) RETURNING id', [key, now]);
      const id = inserted[0]?.id;
      if (typeof id !== 'string' && typeof id !== 'number') throw new Error('login attempt was not recorded');
      return { admitted: true, id, failures: total + 1 };
    });
  }

  async releaseLoginAttempt(username: string, id: LoginAttemptId): Promise<void> {
    await this.driver.query('DELETE FROM login_failures WHERE id = $1 AND username_key = $2', [id, userKey(username)]);
  }

  async clearLoginFailures(username: string): Promise<void> {
    await this.driver.query('DELETE FROM login_failures WHERE username_key = $1', [userKey(username)]);
  }

  async setLockout(username: string, until: number): Promise<void> {
    await this.driver.query('INSERT INTO lockouts (username_key, locked_until) VALUES ($1, $2) ON CONFLICT (username_key) DO UPDATE SET locked_until = excluded.locked_until', [
      userKey(username),
      until,
    ]);
  }

  async getLockout(username: string): Promise<number | undefined> {
    const { rows } = await this.driver.query('SELECT locked_until FROM lockouts WHERE username_key = $1', [userKey(username)]);
    const until = rows[0]?.locked_until;
    return until === null || until === undefined ? undefined : num(until);
  }

  async incrementQuota(key: string, windowStart: number): Promise<number> {
    const { rows } = await this.driver.query(
      `INSERT INTO quota_counters (counter_key, window_start, count) VALUES ($1, $2, 1)
       ON CONFLICT (counter_key, window_start) DO UPDATE SET count = quota_counters.count + 1
       RETURNING count`,
      [key, windowStart],
    );
    return num(rows[0]?.count);
  }

  async setDirectoryState(username: string, state: DirectoryState): Promise<void> {
    await this.driver.query('UPDATE users SET directory_id = $2, directory_revocation = $3, directory_checked_at = $4, directory_claimed_until = NULL WHERE username_key = $1', [
      userKey(username),
      state.directory_id,
      state.revocation,
      state.checked_at,
    ]);
  }

  async claimRevalidation(now: number, checkedBefore: number, claimMs: number, limit: number): Promise<UserRecord[]> {
    const { rows } = await this.driver.query(
      `UPDATE users SET directory_claimed_until = $4 WHERE username_key IN (
         SELECT u.username_key FROM users u
         WHERE u.source = 'ldap' AND u.disabled = $5
           AND (u.directory_checked_at IS NULL OR u.directory_checked_at < $2)
           AND (u.directory_claimed_until IS NULL OR u.directory_claimed_until < $1)
           AND (EXISTS (SELECT 1 FROM sessions s WHERE s.username_key = u.username_key AND s.expires_at > $1 AND s.auth_version = u.auth_version)
             OR EXISTS (SELECT 1 FROM tokens t WHERE t.username_key = u.username_key AND t.expires_at > $1 AND t.revoked_at IS NULL AND t.auth_version = u.auth_version))
         ORDER BY u.directory_checked_at IS NOT NULL, u.directory_checked_at LIMIT $3)
       AND (directory_claimed_until IS NULL OR directory_claimed_until < $1)
       RETURNING *`,
      [now, checkedBefore, limit, now + claimMs, false],
    );
    return rows.map(toUser);
  }

  async releaseRevalidation(username: string): Promise<void> {
    await this.driver.query('UPDATE users SET directory_claimed_until = NULL WHERE username_key = $1', [userKey(username)]);
  }

  async quotaCount(key: string, windowStart: number): Promise<number> {
    const { rows } = await this.driver.query('SELECT count FROM quota_counters WHERE counter_key = $1 AND window_start = $2', [key, windowStart]);
    return rows[0] === undefined ? 0 : num(rows[0].count);
  }

  async resetQuota(key: string): Promise<void> {
    await this.driver.query('DELETE FROM quota_counters WHERE counter_key = $1', [key]);
  }

  async recordJti(issuer: string, jti: string, expiresAt: number): Promise<boolean> {
    const { rowCount } = await this.driver.query('INSERT INTO jti_replay (issuer, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (issuer, jti) DO NOTHING', [issuer, jti, expiresAt]);
    return rowCount === 1;
  }

  // ---- signing keys -----------------------------------------------------------------------

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const { rows } = await this.driver.query('SELECT * FROM signing_keys ORDER BY created_at, kid');
    return rows.map(toSigningKey);
  }

  async insertSigningKey(key: SigningKeyRecord): Promise<void> {
    await this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query(
        `INSERT INTO signing_keys (kid, alg, private_jwk, public_jwk, created_at, retired_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (kid) DO NOTHING`,
        [key.kid, key.alg, key.private_jwk, key.public_jwk, key.created_at, key.retired_at, key.expires_at],
      );
      if (rowCount > 0) await tx.publish({ kind: 'signing_key', key: key.kid });
    });
  }

  async retireSigningKey(kid: string, retiredAt: number, expiresAt: number): Promise<void> {
    await this.driver.transaction(async (tx) => {
      const { rowCount } = await tx.query('UPDATE signing_keys SET retired_at = $1, expires_at = $2 WHERE kid = $3', [retiredAt, expiresAt, kid]);
      if (rowCount > 0) await tx.publish({ kind: 'signing_key', key: kid });
    });
  }

  // ---- events -----------------------------------------------------------------------------

  async insertEvent(event: EventRecord): Promise<void> {
    await this.driver.query('INSERT INTO events (type, occurred_at, username, username_key, data) VALUES ($1, $2, $3, $4, $5)', [
      event.type,
      event.time,
      event.username,
      event.username === null ? null : userKey(event.username),
      JSON.stringify(event.data ?? {}),
    ]);
  }

  async listEvents(query: EventQuery): Promise<{ events: EventRecord[]; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.type) {
      params.push(query.type);
      where.push(`type = $${params.length}`);
    }
    if (query.username) {
      params.push(userKey(query.username));
      where.push(`username_key = $${params.length}`);
    }
    if (query.since !== undefined) {
      params.push(query.since);
      where.push(`occurred_at >= $${params.length}`);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const count = await this.driver.query(`SELECT COUNT(*) AS total FROM events ${clause}`, params);
    const page = [...params, Math.max(0, Math.floor(query.limit)), Math.max(0, Math.floor(query.offset ?? 0))];
    const { rows } = await this.driver.query(`SELECT * FROM events ${clause} ORDER BY occurred_at DESC, id DESC LIMIT $${params.length + 1} OFFSET $${params.length + 2}`, page);
    return { events: rows.map(toEvent), total: num(count.rows[0]?.total ?? 0) };
  }

  // ---- housekeeping -----------------------------------------------------------------------

  /** Expired events deleted per statement by purge(). */
  static readonly EVENT_PURGE_BATCH = 5_000;

  /**
   * Drops what has expired. Events come in floods (every failed login is one), so they go in
   * batches of EVENT_PURGE_BATCH by primary key, each its own statement, with a turn of the
   * event loop between two: on SQLite (a synchronous driver) one DELETE of half a million rows
   * held every request for over a second; on PostgreSQL no transaction grows with the backlog.
   */
  async purge(now: number, eventsBefore: number, failuresBefore: number = now - FAILURE_RETENTION_MS): Promise<void> {
    await this.driver.transaction(async (tx) => {
      await tx.query('DELETE FROM sessions WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM tokens WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM jti_replay WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM login_failures WHERE failed_at < $1', [Math.max(failuresBefore, now - FAILURE_RETENTION_MS)]);
      await tx.query('DELETE FROM lockouts WHERE (locked_until IS NULL OR locked_until <= $1) AND NOT EXISTS (SELECT 1 FROM login_failures f WHERE f.username_key = lockouts.username_key)', [now]);
      // A fixed window is dead once a newer window of the same counter exists.
      await tx.query(
        `DELETE FROM quota_counters WHERE window_start >= 0 AND (window_start < $1
           OR EXISTS (SELECT 1 FROM quota_counters newer WHERE newer.counter_key = quota_counters.counter_key AND newer.window_start > quota_counters.window_start))`,
        [now - QUOTA_RETENTION_MS],
      );
    });
    const batch = SqlStore.EVENT_PURGE_BATCH;
    for (;;) {
      const { rowCount } = await this.driver.query('DELETE FROM events WHERE id IN (SELECT id FROM events WHERE occurred_at < $1 LIMIT $2)', [eventsBefore, batch]);
      if (rowCount < batch) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  // ---- helpers ----------------------------------------------------------------------------

  private async insertUser(tx: SqlTransaction, user: NewUser): Promise<UserRecord | undefined> {
    const { rows } = await tx.query(
      `INSERT INTO users (username_key, username, name, email, roles, mapped_roles, projects, mapped_projects, source, password_hash,
         disabled, must_change_password, grants, quotas, attributes, mapped_attributes, auth_version, created_at, updated_at, last_login_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $17, $18, $16, $15, $15, NULL)
       ON CONFLICT (username_key) DO NOTHING RETURNING *`,
      [
        userKey(user.username),
        user.username,
        user.name,
        user.email,
        JSON.stringify(user.roles),
        JSON.stringify(user.mapped_roles),
        JSON.stringify(user.projects),
        JSON.stringify(user.mapped_projects),
        user.source,
        user.password_hash,
        user.disabled,
        user.must_change_password,
        JSON.stringify(user.grants),
        JSON.stringify(user.quotas),
        user.now,
        firstAuthVersion(),
        JSON.stringify(user.attributes),
        JSON.stringify(user.mapped_attributes),
      ],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /** Inside a serialised transaction, after its write: refuses to leave no enabled admin. */
  private async assertAnEnabledAdmin(tx: SqlTransaction): Promise<void> {
    if ((await this.enabledAdmins(tx)) < 1) throw new PortcullisError('last_admin', 'The last enabled admin cannot be deleted, disabled or demoted');
  }

  /** Ends every session and API token of a user (inside the caller's transaction). */
  private async endSessionsOf(tx: SqlTransaction, key: string, now: number): Promise<void> {
    await tx.query('DELETE FROM sessions WHERE username_key = $1', [key]);
    await tx.query('UPDATE tokens SET revoked_at = $1 WHERE username_key = $2 AND revoked_at IS NULL', [now, key]);
  }
}

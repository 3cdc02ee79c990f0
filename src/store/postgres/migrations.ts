/** PostgreSQL schema, versioned. Never edit a released step: append a new one. */
import { ORPHANED_CREDENTIALS_CLEANUP, type Migration } from '../migrate.js';

export const postgresMigrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    statements: [
      `CREATE TABLE users (
        username_key TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '',
        roles TEXT NOT NULL DEFAULT '[]',
        mapped_roles TEXT NOT NULL DEFAULT '[]',
        projects TEXT NOT NULL DEFAULT '[]',
        mapped_projects TEXT NOT NULL DEFAULT '[]',
        source TEXT NOT NULL,
        password_hash TEXT,
        disabled BOOLEAN NOT NULL DEFAULT FALSE,
        must_change_password BOOLEAN NOT NULL DEFAULT FALSE,
        grants TEXT NOT NULL DEFAULT '[]',
        quotas TEXT NOT NULL DEFAULT '{}',
        auth_version BIGINT NOT NULL DEFAULT 1,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_login_at BIGINT
      )`,
      `CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL,
        auth_version BIGINT NOT NULL,
        method TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      )`,
      'CREATE INDEX sessions_username_key_idx ON sessions (username_key)',
      'CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)',
      `CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        username TEXT NOT NULL,
        username_key TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        auth_version BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        last_used_at BIGINT,
        revoked_at BIGINT
      )`,
      'CREATE INDEX tokens_username_key_idx ON tokens (username_key)',
      'CREATE INDEX tokens_expires_at_idx ON tokens (expires_at)',
      `CREATE TABLE login_failures (
        id BIGSERIAL PRIMARY KEY,
        username_key TEXT NOT NULL,
        failed_at BIGINT NOT NULL
      )`,
      'CREATE INDEX login_failures_key_idx ON login_failures (username_key, failed_at)',
      'CREATE TABLE lockouts (username_key TEXT PRIMARY KEY, locked_until BIGINT)',
      `CREATE TABLE quota_counters (
        counter_key TEXT NOT NULL,
        window_start BIGINT NOT NULL,
        count BIGINT NOT NULL,
        PRIMARY KEY (counter_key, window_start)
      )`,
      `CREATE TABLE jti_replay (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (issuer, jti)
      )`,
      'CREATE INDEX jti_replay_expires_at_idx ON jti_replay (expires_at)',
      `CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        alg TEXT NOT NULL,
        private_jwk TEXT NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        expires_at BIGINT
      )`,
      `CREATE TABLE events (
        id BIGSERIAL PRIMARY KEY,
        type TEXT NOT NULL,
        occurred_at BIGINT NOT NULL,
        username TEXT,
        username_key TEXT,
        data TEXT NOT NULL DEFAULT '{}'
      )`,
      'CREATE INDEX events_occurred_at_idx ON events (occurred_at)',
      'CREATE INDEX events_type_idx ON events (type, occurred_at)',
      'CREATE INDEX events_username_key_idx ON events (username_key, occurred_at)',
    ],
  },
  {
    version: 2,
    name: 'seed-file entries applied; no sessions or tokens of deleted users',
    statements: [
      // A seed entry is applied once, ever: a seeded user deleted later stays deleted.
      `CREATE TABLE seeded_users (
        username_key TEXT PRIMARY KEY,
        seeded_at BIGINT NOT NULL
      )`,
      ...ORPHANED_CREDENTIALS_CLEANUP,
    ],
  },
  {
    version: 3,
    name: 'scoped API tokens',
    statements: [
      // JSON array of grants all of which must allow; NULL: the token is not scoped.
      'ALTER TABLE tokens ADD COLUMN scope TEXT',
      'ALTER TABLE tokens ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE',
    ],
  },
  {
    version: 4,
    name: 'user attributes',
    statements: [
      // SPEC 16: JSON object KEY -> [values]; the keys a source (LDAP, JWT issuer) set, like mapped_roles.
      "ALTER TABLE users ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}'",
      "ALTER TABLE users ADD COLUMN mapped_attributes TEXT NOT NULL DEFAULT '[]'",
    ],
  },
  {
    version: 5,
    name: 'per-user upstream credentials',
    statements: [
      // AES-256-GCM with server.secret_key, bound to (username_key, route); base64 text.
      `CREATE TABLE upstream_credentials (
        username_key TEXT NOT NULL,
        route TEXT NOT NULL,
        ciphertext TEXT NOT NULL,
        iv TEXT NOT NULL,
        tag TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (username_key, route)
      )`,
    ],
  },
  {
    version: 6,
    name: 'directory identity and revalidation state of ldap users',
    statements: [
      // The entry's stable id (entryUUID, objectGUID); '' until the user's first login with it.
      "ALTER TABLE users ADD COLUMN directory_id TEXT NOT NULL DEFAULT ''",
      // The last good check against the directory, the revocation attribute's value then, and
      // until when one replica has claimed the next check.
      'ALTER TABLE users ADD COLUMN directory_checked_at BIGINT',
      "ALTER TABLE users ADD COLUMN directory_revocation TEXT NOT NULL DEFAULT ''",
      'ALTER TABLE users ADD COLUMN directory_claimed_until BIGINT',
    ],
  },
];

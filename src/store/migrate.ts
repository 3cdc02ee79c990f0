/**
 * Versioned schema migrations, one list per dialect. Applied in a single transaction that
 * first takes the dialect's migration lock (PostgreSQL: an advisory lock, so concurrent
 * replicas wait for each other; SQLite: BEGIN IMMEDIATE already serialises writers).
 * Applied versions are recorded in `schema_migrations`; running it again is a no-op.
 */
import type { SqlTransaction, StoreLogger } from './sql-driver.js';

export interface Migration {
  version: number;
  name: string;
  statements: string[];
}

export async function applyMigrations(tx: SqlTransaction, migrations: readonly Migration[], logger: StoreLogger): Promise<number[]> {
  await tx.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
  const { rows } = await tx.query('SELECT version FROM schema_migrations');
  const done = new Set(rows.map((row) => Number(row.version)));
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  const latest = ordered.at(-1)?.version ?? 0;
  const newer = [...done].filter((v) => v > latest);
  if (newer.length > 0) {
    logger('warn', 'store schema is newer than this version of portcullis', { schema_version: Math.max(...newer), known_version: latest });
  }
  const applied: number[] = [];
  for (const migration of ordered) {
    if (done.has(migration.version)) continue;
    for (const statement of migration.statements) await tx.query(statement);
    await tx.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
    applied.push(migration.version);
  }
  if (applied.length > 0) logger('info', 'store migrations applied', { versions: applied });
  return applied;
}

/**
 * Migration 2 of both dialects: sessions and tokens that outlived their user, or are older than
 * the user now holding the name (left by a delete racing a login before that version), belong
 * to nobody. The same SQL in SQLite and PostgreSQL.
 */
export const ORPHANED_CREDENTIALS_CLEANUP: readonly string[] = [
  `DELETE FROM sessions WHERE NOT EXISTS (
    SELECT 1 FROM users u WHERE u.username_key = sessions.username_key AND u.created_at <= sessions.created_at
  )`,
  `DELETE FROM tokens WHERE NOT EXISTS (
    SELECT 1 FROM users u WHERE u.username_key = tokens.username_key AND u.created_at <= tokens.created_at
  )`,
];

/**
 * Configuration reload (SPEC 1): SIGHUP, `POST /.auth/api/config/reload`, `portcullis config
 * reload`. The file is validated exactly as at start; on any problem the running configuration
 * stays. What cannot change without a restart is reported and kept as it was, the rest applied.
 */
import type { ConfigProblem } from '../config/problem.js';
import type { Config } from '../config/schema.js';

export type ReloadOutcome = { ok: true; changed: string[]; restart_required: string[] } | { ok: false; problems: ConfigProblem[] };
export type { ConfigProblem };

/**
 * Keys that keep their running value until a restart: the listeners, the store, and what the
 * store, the session cookie, the signing keys, the event sinks and the bootstrap were built with.
 */
export const RESTART_REQUIRED: readonly string[] = [
  'server.listen',
  'server.public_url',
  'server.max_connections',
  'server.shutdown_timeout',
  'server.signing_key_rotation',
  'server.secret_key',
  'server.secret_key_file',
  'metrics.listen',
  'store.url',
  'store.url_file',
  'users.admin_username',
  'users.seed_file',
  'users.password_hash_cost',
  'session',
  'events',
];

/** The key paths whose values differ (objects compared key by key, lists and scalars as a whole). */
export function changedKeys(before: unknown, after: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => changedKeys(before[key], after[key], path === '' ? key : `${path}.${key}`));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [path];
}

const needsRestart = (key: string): boolean => RESTART_REQUIRED.some((prefix) => key === prefix || key.startsWith(`${prefix}.`));

/** The configuration to apply: the new one with every restart-required key as it runs now. */
export function applicable(running: Config, loaded: Config): { config: Config; changed: string[]; restart_required: string[] } {
  const keys = changedKeys(running, loaded);
  const restart = keys.filter(needsRestart);
  const config = structuredClone(loaded) as Config & Record<string, unknown>;
  for (const prefix of RESTART_REQUIRED) {
    const [section, key] = prefix.split('.') as [keyof Config, string | undefined];
    if (key === undefined) (config as Record<string, unknown>)[section] = structuredClone(running[section]);
    else (config[section] as Record<string, unknown>)[key] = structuredClone((running[section] as Record<string, unknown>)[key]);
  }
  return { config, changed: keys.filter((key) => !needsRestart(key)), restart_required: restart };
}

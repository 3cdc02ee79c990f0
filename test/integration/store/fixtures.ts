/** Record builders and a change collector shared by the store contract tests. */
import type { NewUser, SessionRecord, Store, StoreChange, TokenRecord } from '../../../src/store/types.js';

export const T0 = 1_800_000_000_000;

export function newUser(username: string, overrides: Partial<NewUser> = {}): NewUser {
  return {
    username,
    name: `${username} Name`,
    email: `${username.toLowerCase()}@example.org`,
    roles: ['user'],
    mapped_roles: [],
    projects: [],
    mapped_projects: [],
    source: 'local',
    password_hash: 'scrypt$dummy',
    disabled: false,
    must_change_password: false,
    grants: [],
    quotas: {},
    attributes: {},
    mapped_attributes: [],
    now: T0,
    ...overrides,
  };
}

/**
 * Creates the user unless it exists and returns its auth_version: sessions and tokens are
 * stored only for an existing user at its current auth_version (random for a new user).
 */
export async function userFor(store: Store, username: string): Promise<number> {
  const existing = await store.getUser(username);
  return (existing ?? (await store.createUser(newUser(username)))).auth_version;
}

export function session(idHash: string, username: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return { id_hash: idHash, username, auth_version: 1, method: 'form', created_at: T0, last_seen_at: T0, expires_at: T0 + 3_600_000, ...overrides };
}

export function token(id: string, username: string, overrides: Partial<TokenRecord> = {}): TokenRecord {
  return {
    id,
    token_hash: `hash-${id}`,
    username,
    name: `token ${id}`,
    kind: 'opaque',
    auth_version: 1,
    created_at: T0,
    expires_at: T0 + 86_400_000,
    last_used_at: null,
    revoked_at: null,
    scope: null,
    read_only: false,
    ...overrides,
  };
}

export interface ChangeCollector {
  changes: StoreChange[];
  /** Resolves once `predicate` holds for the collected changes; rejects after `ms`. */
  waitFor(predicate: (changes: StoreChange[]) => boolean, ms?: number): Promise<void>;
  stop(): void;
}

export function collectChanges(store: Store): ChangeCollector {
  const changes: StoreChange[] = [];
  const stop = store.onChange((change) => changes.push(change));
  return {
    changes,
    stop,
    async waitFor(predicate, ms = 1_000) {
      const deadline = Date.now() + ms;
      while (!predicate(changes)) {
        if (Date.now() > deadline) throw new Error(`changes not seen within ${ms}ms: ${JSON.stringify(changes)}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  };
}

export const has = (kind: StoreChange['kind'], key: string) => (changes: StoreChange[]) => changes.some((c) => c.kind === kind && c.key === key);

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

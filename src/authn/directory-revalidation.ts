/**
 * Revalidation of directory accounts (SPEC 18): every ldap user with a live session or token is
 * checked against the directory (service account, never one search per request) at least every
 * `ldap.refresh_interval`. An entry that is gone, disabled, re-created under the name (another
 * id), whose revocation attribute changed, or whose mapped roles or projects changed ends the
 * user's sessions and tokens on every replica (auth_version, through the change notifications)
 * with `DirectoryRevalidated`. While the directory cannot be asked nothing ends until
 * `ldap.refresh_grace` has passed since the last good check.
 *
 * Each replica claims the users it checks in the store, so a check runs once per interval
 * whatever the number of replicas.
 */
import type { LdapConfig } from '../config/schema.js';
import type { DirectoryEntryState } from '../directory/ldap-directory.js';
import type { EventBus } from '../events/bus.js';
import type { Store, UserRecord } from '../store/types.js';
import { mergeMapped, writeMapping } from '../users/directory-mapping.js';

export type RevalidationReason = 'deleted' | 'disabled' | 'revoked' | 'roles_changed' | 'identity_changed' | 'directory_unreachable';

export interface RevalidationDirectory {
  lookup(username: string): Promise<DirectoryEntryState>;
}

export interface RevalidatorOptions {
  config: LdapConfig;
  store: Store;
  directory: RevalidationDirectory;
  events: EventBus;
  logger: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
  /** Users checked per round (the rest wait for the next round). */
  batch?: number;
}

const sorted = (list: readonly string[]): string => [...new Set(list)].sort().join(',');

export class DirectoryRevalidator {
  private readonly options: RevalidatorOptions;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: RevalidatorOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
  }

  /** How often a round runs: a quarter of the interval (at least 1 s, at most 30 s). */
  get tickMs(): number {
    return Math.min(30_000, Math.max(1000, Math.floor(this.options.config.refresh_interval / 4)));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.round(), this.tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One round: claim the users due, check each (one at a time, through the directory's pool). */
  round(): Promise<void> {
    this.running ??= this.checkDue().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async checkDue(): Promise<void> {
    const { store, config } = this.options;
    const now = this.now();
    let due: UserRecord[];
    try {
      // Checked before the interval is over (one tick early), so no check is more than an interval old.
      due = await store.claimRevalidation(now, now - Math.max(0, config.refresh_interval - this.tickMs), config.timeout * 4 + this.tickMs, this.options.batch ?? 200);
    } catch (err) {
      this.options.logger('warn', 'directory revalidation: the store could not be asked', { err: err as Error });
      return;
    }
    for (const user of due) await this.check(user);
  }

  private async check(user: UserRecord): Promise<void> {
    const { store, directory, config } = this.options;
    let state: DirectoryEntryState;
    try {
      state = await directory.lookup(user.username);
    } catch {
      const last = user.directory_checked_at ?? user.updated_at;
      if (this.now() - last > config.refresh_grace) await this.end(user, 'directory_unreachable');
      else await store.releaseRevalidation(user.username).catch(() => undefined);
      return;
    }
    const reason = this.verdict(user, state);
    if (reason !== undefined) {
      await this.end(user, reason, state);
      return;
    }
    if (state.kind === 'present') await store.setDirectoryState(user.username, { directory_id: state.user.id || user.directory_id, revocation: state.user.revocation, checked_at: this.now() });
  }

  /** Why the user's sessions and tokens must end, or undefined when the account is as it was. */
  private verdict(user: UserRecord, state: DirectoryEntryState): RevalidationReason | undefined {
    if (state.kind === 'gone') return 'deleted';
    const entry = state.user;
    if (user.directory_id !== '' && entry.id !== '' && entry.id !== user.directory_id) return 'identity_changed';
    if (state.disabled) return 'disabled';
    if (this.options.config.revocation_attribute !== '' && entry.revocation !== user.directory_revocation) return 'revoked';
    if (sorted(entry.roles) !== sorted(user.mapped_roles) || sorted(entry.projects) !== sorted(user.mapped_projects)) return 'roles_changed';
    return undefined;
  }

  /** The directory's roles and projects replace the mapped ones, and every session ends. */
  private async remap(user: UserRecord, roles: readonly string[], projects: readonly string[], now: number): Promise<void> {
    const { store, logger } = this.options;
    await writeMapping(store, user, { ...mergeMapped(user, roles, projects), now }, 'always', (msg, fields) => logger('warn', msg, fields));
  }

  /** Ends every session and token of the user (all replicas), records why, and the new state. */
  private async end(user: UserRecord, reason: RevalidationReason, state?: DirectoryEntryState): Promise<void> {
    const { store, events } = this.options;
    const now = this.now();
    try {
      if (reason === 'roles_changed' && state?.kind === 'present') await this.remap(user, state.user.roles, state.user.projects, now);
      else await store.updateUser(user.username, { end_sessions: true, now });
      if (state?.kind === 'present' && reason !== 'identity_changed')
        await store.setDirectoryState(user.username, { directory_id: state.user.id || user.directory_id, revocation: state.user.revocation, checked_at: now });
      else await store.releaseRevalidation(user.username);
    } catch (err) {
      this.options.logger('warn', 'directory revalidation: could not end the sessions of a changed account', { username: user.username, reason, err: err as Error });
      await store.releaseRevalidation(user.username).catch(() => undefined);
      return;
    }
    events.emit('DirectoryRevalidated', user.username, { reason, user_type: 'ldap' });
  }
}

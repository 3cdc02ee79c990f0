/**
 * User management: validation, password policy, guardrails and events. The admin API,
 * the CLI (through the API), bootstrap and seeding all go through here, so every rule of
 * SPEC 8 holds whichever door a change comes through.
 */
import { lockoutSchema, type LockoutPolicy, type PasswordPolicy } from '../config/schema.js';
import { PortcullisError } from '../errors/errors.js';
import type { EventBus } from '../events/bus.js';
import type { RequestContext } from '../events/types.js';
import type { Grant, Store, UserPatch, UserQuery, UserRecord, UserSource } from '../store/types.js';
import { userKey } from '../store/types.js';
import type { PasswordHasher } from './password-hash.js';
import { attributesProblems, normaliseAttributes, sameAttributes, type Attributes } from './attributes.js';
import { passwordProblem } from './password-policy.js';
import { externalRolesProblem, isApiOnly, projectsProblem, rolesProblem, uniqueSorted, usernameProblem } from './validation.js';

export interface Actor {
  username: string;
}

export interface CreateUserInput {
  username: string;
  password?: string | undefined;
  name?: string | undefined;
  email?: string | undefined;
  roles: string[];
  projects?: string[] | undefined;
  must_change_password?: boolean | undefined;
  source?: UserSource;
  grants?: Grant[] | undefined;
  quotas?: Record<string, number> | undefined;
  attributes?: Attributes | undefined;
}

export interface UpdateUserInput {
  name?: string;
  email?: string;
  roles?: string[];
  projects?: string[];
  disabled?: boolean;
  password?: string;
  must_change_password?: boolean;
  grants?: Grant[];
  quotas?: Record<string, number>;
  /** Replaces the whole object (SPEC 16). */
  attributes?: Attributes;
}

export interface UserServiceOptions {
  store: Store;
  hasher: PasswordHasher;
  policy: PasswordPolicy;
  events: EventBus;
  /** Lockout for wrong current passwords on a self-service change; the config defaults when absent. */
  lockout?: LockoutPolicy | undefined;
  /** `access.privileged_roles`: a `jwt:` user record never holds one (default: the schema's list). */
  privilegedRoles?: ReadonlySet<string>;
  now?: () => number;
}

export class UserService {
  readonly store: Store;
  readonly hasher: PasswordHasher;
  readonly policy: PasswordPolicy;
  readonly lockout: LockoutPolicy;
  private readonly events: EventBus;
  /** Self-service password changes in progress, per lower-case name (see changeOwnPassword). */
  private readonly changing = new Map<string, Promise<void>>();
  private readonly now: () => number;
  private readonly privileged: ReadonlySet<string> | undefined;

  constructor(options: UserServiceOptions) {
    this.privileged = options.privilegedRoles;
    this.store = options.store;
    this.hasher = options.hasher;
    this.policy = options.policy;
    this.events = options.events;
    this.lockout = options.lockout ?? lockoutSchema.parse({});
    this.now = options.now ?? Date.now;
  }

  async get(username: string): Promise<UserRecord> {
    const user = await this.store.getUser(username);
    if (!user) throw new PortcullisError('not_found', 'User not found');
    return user;
  }

  list(query: UserQuery): Promise<{ users: UserRecord[]; total: number }> {
    return this.store.listUsers(query);
  }

  async create(input: CreateUserInput, actor: Actor | undefined, context?: RequestContext): Promise<UserRecord> {
    const fields: Record<string, string> = {};
    const nameProblem = usernameProblem(input.username);
    if (nameProblem) fields.username = nameProblem;
    const roleProblem = rolesProblem(input.roles);
    if (roleProblem) fields.roles = roleProblem;
    const projects = input.projects ?? [];
    const projectProblem = projectsProblem(projects);
    if (projectProblem) fields.projects = projectProblem;
    const textProblems = textFieldProblems(input);
    Object.assign(fields, textProblems);
    if (input.attributes !== undefined) Object.assign(fields, attributesProblems(input.attributes));
    const source = input.source ?? 'local';
    const externalProblem = roleProblem ? undefined : externalRolesProblem(source, input.roles, this.privileged);
    if (externalProblem) fields.roles = externalProblem;
    if (source === 'local') {
      if (input.password === undefined || input.password === '') {
        if (!roleProblem && !isApiOnly(input.roles)) fields.password = 'required: only users whose roles are exactly [api] may have no password';
      } else {
        const problem = passwordProblem(input.password, this.policy);
        if (problem) fields.password = problem;
      }
    }
    if (Object.keys(fields).length > 0) throw new PortcullisError('validation_failed', 'Invalid user', { fields });
    const hash = source === 'local' && input.password ? await this.hasher.hash(input.password) : null;
    const user = await this.store.createUser({
      username: input.username,
      name: input.name ?? '',
      email: input.email ?? '',
      roles: uniqueSorted(input.roles),
      mapped_roles: [],
      projects: uniqueSorted(projects),
      mapped_projects: [],
      source,
      password_hash: hash,
      disabled: false,
      must_change_password: hash !== null && (input.must_change_password ?? false),
      grants: input.grants ?? [],
      quotas: input.quotas ?? {},
      attributes: input.attributes !== undefined ? normaliseAttributes(input.attributes) : {},
      mapped_attributes: [],
      now: this.now(),
    });
    this.events.emit('UserCreated', user.username, { actor: actor?.username ?? 'system', roles: user.roles, source: user.source }, context);
    return user;
  }

  async update(username: string, input: UpdateUserInput, actor: Actor | undefined, context?: RequestContext): Promise<UserRecord> {
    const user = await this.get(username);
    const self = actor !== undefined && userKey(actor.username) === userKey(user.username);
    const fields: Record<string, string> = {};
    if (input.roles !== undefined) {
      const problem = rolesProblem(input.roles) ?? externalRolesProblem(user.source, input.roles, this.privileged);
      if (problem) fields.roles = problem;
    }
    if (input.projects !== undefined) {
      const problem = projectsProblem(input.projects);
      if (problem) fields.projects = problem;
    }
    Object.assign(fields, textFieldProblems(input));
    if (input.attributes !== undefined) Object.assign(fields, attributesProblems(input.attributes));
    if (input.password !== undefined) {
      if (user.source !== 'local') fields.password = `cannot be set for a user whose source is ${user.source}`;
      else {
        const problem = passwordProblem(input.password, this.policy);
        if (problem) fields.password = problem;
      }
    }
    if (input.disabled !== undefined && typeof input.disabled !== 'boolean') fields.disabled = 'must be true or false';
    if (input.must_change_password !== undefined && typeof input.must_change_password !== 'boolean') fields.must_change_password = 'must be true or false';
    if (Object.keys(fields).length > 0) throw new PortcullisError('validation_failed', 'Invalid user', { fields });

    const newRoles = input.roles !== undefined ? uniqueSorted(input.roles) : user.roles;
    const rolesChanged = !sameList(newRoles, user.roles);
    const disabling = input.disabled === true && !user.disabled;
    if (self && (rolesChanged || disabling)) {
      throw new PortcullisError('cannot_modify_self', rolesChanged ? 'You cannot change your own roles' : 'You cannot disable your own account');
    }
    // An admin's own password changes only with the current one (and its lockout): a stolen admin
    // session must not be able to take the account over for good.
    if (self && input.password !== undefined) {
      throw new PortcullisError('cannot_modify_self', 'Change your own password with POST /.auth/api/me/password: it needs the current one');
    }
    const losesAdmin = user.roles.includes('admin') && !user.disabled && (disabling || !newRoles.includes('admin'));
    // Early answer only: the store re-checks atomically with the write (guard_last_admin).
    if (losesAdmin) await this.assertNotLastAdmin();
    if (input.password === undefined && input.must_change_password === true && user.password_hash === null) {
      throw new PortcullisError('validation_failed', 'Invalid user', { fields: { must_change_password: 'the user has no password' } });
    }
    if (rolesChanged && !isApiOnly(newRoles) && user.source === 'local' && user.password_hash === null && input.password === undefined) {
      throw new PortcullisError('validation_failed', 'Invalid user', { fields: { roles: 'a user without a password may only hold exactly [api]; set a password first' } });
    }

    const patch: UserPatch = { now: this.now() };
    const changed: string[] = [];
    if (input.name !== undefined && input.name !== user.name) {
      patch.name = input.name;
      changed.push('name');
    }
    if (input.email !== undefined && input.email !== user.email) {
      patch.email = input.email;
      changed.push('email');
    }
    if (rolesChanged) {
      patch.roles = newRoles;
      // Roles set by an admin are no longer "from the directory mapping".
      patch.mapped_roles = user.mapped_roles.filter((r) => newRoles.includes(r));
      changed.push('roles');
    }
    if (input.projects !== undefined && !sameList(uniqueSorted(input.projects), user.projects)) {
      patch.projects = uniqueSorted(input.projects);
      patch.mapped_projects = user.mapped_projects.filter((p) => patch.projects?.includes(p));
      changed.push('projects');
    }
    if (input.disabled !== undefined && input.disabled !== user.disabled) {
      patch.disabled = input.disabled;
      changed.push('disabled');
    }
    if (input.grants !== undefined) {
      patch.grants = input.grants;
      changed.push('grants');
    }
    if (input.quotas !== undefined) {
      patch.quotas = input.quotas;
      changed.push('quotas');
    }
    if (input.attributes !== undefined) attributesPatch(user, normaliseAttributes(input.attributes), patch, changed);
    if (input.password !== undefined) {
      patch.password_hash = await this.hasher.hash(input.password);
      patch.must_change_password = input.must_change_password ?? !self;
      changed.push('password');
    } else if (input.must_change_password !== undefined && input.must_change_password !== user.must_change_password) {
      patch.must_change_password = input.must_change_password;
      changed.push('must_change_password');
    }
    if (changed.length === 0) return user;
    patch.end_sessions = rolesChanged || disabling || input.password !== undefined;
    // Whatever `user` said a moment ago: the store refuses, in the write's own transaction, to
    // leave no enabled admin (two admins demoting or disabling each other at once).
    patch.guard_last_admin = rolesChanged || patch.disabled === true;
    const updated = await this.store.updateUser(user.username, patch);
    if (!updated) throw new PortcullisError('not_found', 'User not found');
    this.events.emit('UserUpdated', updated.username, { actor: actor?.username ?? 'system', changed }, context);
    if (input.password !== undefined) this.events.emit('PasswordChanged', updated.username, { actor: actor?.username ?? 'system' }, context);
    return updated;
  }

  async delete(username: string, actor: Actor | undefined, context?: RequestContext): Promise<void> {
    const user = await this.get(username);
    if (actor && userKey(actor.username) === userKey(user.username)) throw new PortcullisError('cannot_modify_self', 'You cannot delete your own account');
    if (user.roles.includes('admin') && !user.disabled) await this.assertNotLastAdmin();
    if (!(await this.store.deleteUser(user.username, { guard_last_admin: true }))) throw new PortcullisError('not_found', 'User not found');
    this.events.emit('UserDeleted', user.username, { actor: actor?.username ?? 'system' }, context);
  }

  /**
   * Self-service change: verifies the current password first; ends every other session.
   * The current password is a login attempt for lockout (SPEC 3): a wrong one counts as a
   * failure of the name and emits UserLoginFailed (bad_password), and while the name is locked
   * the change is refused (429, UserLoginFailed locked_out) without verifying anything.
   * `method` is the caller's authentication method, for the event. Each guess is reserved in
   * the store before it is checked (the limit holds across replicas); changes of one name also
   * run one at a time in this process, so none verifies against a hash a concurrent change just
   * replaced.
   */
  changeOwnPassword(username: string, currentPassword: unknown, newPassword: unknown, context?: RequestContext, method = 'form'): Promise<UserRecord> {
    return this.oneAtATime(userKey(username), () => this.changeOwnPasswordNow(username, currentPassword, newPassword, context, method));
  }

  private async changeOwnPasswordNow(username: string, currentPassword: unknown, newPassword: unknown, context: RequestContext | undefined, method: string): Promise<UserRecord> {
    const user = await this.get(username);
    if (user.source !== 'local' || user.password_hash === null) {
      throw new PortcullisError('bad_request', `Passwords of ${user.source === 'local' ? 'password-less' : user.source} users are not managed here`);
    }
    const lockName = userKey(user.username);
    const now = this.now();
    // The guess is reserved in the store before the hash, as a login's is (PasswordChain): the
    // limit holds across replicas, and the reservation stays counted unless the password is right.
    const attempt = await this.store.reserveLoginAttempt(lockName, now, now - this.lockout.window, this.lockout.max_failures);
    if (!attempt.admitted) {
      this.events.emit('UserLoginFailed', user.username, { user_type: 'local', reason: 'locked_out', method }, context);
      const lockedUntil = (await this.store.getLockout(lockName)) ?? now + this.lockout.duration;
      throw new PortcullisError('too_many_requests', 'Too many failed attempts: try again later', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil((lockedUntil - now) / 1000))) },
      });
    }
    const good = typeof currentPassword === 'string' && currentPassword !== '' && (await this.hasher.verify(currentPassword, user.password_hash));
    if (!good) {
      this.events.emit('UserLoginFailed', user.username, { user_type: 'local', reason: 'bad_password', method }, context);
      if (attempt.failures >= this.lockout.max_failures) await this.store.setLockout(lockName, now + this.lockout.duration);
      throw new PortcullisError('validation_failed', 'The current password is not correct', { fields: { current_password: 'is not correct' } });
    }
    await this.store.clearLoginFailures(lockName);
    const problem = passwordProblem(newPassword, this.policy);
    if (problem) throw new PortcullisError('weak_password', `The new password ${problem}`, { fields: { new_password: problem } });
    if (newPassword === currentPassword) {
      throw new PortcullisError('weak_password', 'The new password must differ from the current one', { fields: { new_password: 'must differ from the current password' } });
    }
    const updated = await this.store.updateUser(user.username, {
      password_hash: await this.hasher.hash(newPassword as string),
      must_change_password: false,
      end_sessions: true,
      now: this.now(),
    });
    if (!updated) throw new PortcullisError('not_found', 'User not found');
    this.events.emit('PasswordChanged', updated.username, { actor: updated.username }, context);
    return updated;
  }

  /** Ends every session and token of the user. */
  async revoke(username: string, actor: Actor | undefined, context?: RequestContext): Promise<void> {
    const user = await this.get(username);
    await this.store.updateUser(user.username, { end_sessions: true, now: this.now() });
    this.events.emit('TokenRevoked', user.username, { actor: actor?.username ?? 'system', scope: 'all' }, context);
  }

  /** Runs `fn` after every earlier call for the same key has settled (in this process). */
  private async oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.changing.get(key) ?? Promise.resolve();
    const run = previous.then(fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.changing.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.changing.get(key) === settled) this.changing.delete(key);
    }
  }

  private async assertNotLastAdmin(): Promise<void> {
    if ((await this.store.countEnabledAdmins()) <= 1) {
      throw new PortcullisError('last_admin', 'The last enabled admin cannot be deleted, disabled or demoted');
    }
  }
}

function textFieldProblems(input: { name?: unknown; email?: unknown }): Record<string, string> {
  const fields: Record<string, string> = {};
  if (input.name !== undefined && (typeof input.name !== 'string' || input.name.length > 256)) fields.name = 'must be a string of at most 256 characters';
  if (input.email !== undefined) {
    if (typeof input.email !== 'string' || input.email.length > 256) fields.email = 'must be a string of at most 256 characters';
    else if (input.email !== '' && !/^[^\s@]+@[^\s@]+$/.test(input.email)) fields.email = 'must be an email address';
  }
  return fields;
}

/**
 * An admin's attributes replace the whole object; a source-set key the admin changed (or
 * removed) is no longer the source's, one left as it was stays mapped.
 */
function attributesPatch(user: UserRecord, attributes: Attributes, patch: UserPatch, changed: string[]): void {
  if (sameAttributes(attributes, user.attributes)) return;
  patch.attributes = attributes;
  patch.mapped_attributes = user.mapped_attributes.filter((key) => {
    const before = user.attributes[key];
    const after = attributes[key];
    return before !== undefined && after !== undefined && sameList(before, after);
  });
  changed.push('attributes');
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

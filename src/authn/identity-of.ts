/**
 * The identity of a user record (SPEC 4), shared and frozen per record and method: the hot path
 * builds none per request. External-JWT and anonymous identities never hold a privileged role.
 */
import { DEFAULT_PRIVILEGED_ROLES } from '../config/schema.js';
import type { UserRecord } from '../store/types.js';
import { withoutPrivileged } from './federation.js';
import type { AuthMethod, Identity } from './identity.js';

/**
 * Identities of unchanged user records, per method. A user record is never changed in place
 * (a change loads a new record), so the identity built from one can be reused for every request
 * that presents it; the header values and assertion derived from an identity are then remembered
 * per identity object (HeaderPolicy, GatewayKeys). Reused identities are frozen.
 */
const identities = new WeakMap<UserRecord, Map<AuthMethod, Identity>>();

/** What an external token says instead of the record (users: provision). */
export interface IdentityOverrides {
  roles?: string[];
  projects?: string[];
  attributes?: Readonly<Record<string, readonly string[]>>;
}

const DEFAULT_PRIVILEGED: ReadonlySet<string> = new Set(DEFAULT_PRIVILEGED_ROLES);

/**
 * Identities built with a token's own roles and projects, per overrides object: a cached
 * external JWT keeps one such object for as long as it is cached, so each of its requests
 * presents the same frozen identity (and its remembered headers and assertion) while the user
 * record is unchanged. Another token's overrides are another object: never shared between tokens.
 */
const overridden = new WeakMap<object, { user: UserRecord; method: AuthMethod; identity: Identity }>();

/**
 * The identity of a user record: external-JWT users never hold a privileged role. Without
 * overrides the identity is the shared, frozen one of this record and method; with them, the
 * frozen one of this record, method and overrides object.
 */
export function identityOf(user: UserRecord, method: AuthMethod, overrides?: IdentityOverrides, privileged: ReadonlySet<string> = DEFAULT_PRIVILEGED): Identity {
  if (overrides !== undefined) {
    const known = overridden.get(overrides);
    if (known !== undefined && known.user === user && known.method === method) return known.identity;
    const identity = Object.freeze(buildIdentity(user, method, overrides, privileged));
    overridden.set(overrides, { user, method, identity });
    return identity;
  }
  let byMethod = identities.get(user);
  if (byMethod === undefined) {
    byMethod = new Map();
    identities.set(user, byMethod);
  }
  let identity = byMethod.get(method);
  if (identity === undefined) {
    identity = Object.freeze(buildIdentity(user, method, undefined, privileged));
    byMethod.set(method, identity);
  }
  return identity;
}

function buildIdentity(user: UserRecord, method: AuthMethod, overrides: IdentityOverrides | undefined, privileged: ReadonlySet<string>): Identity {
  const roles = overrides?.roles ?? user.roles;
  const identity: Identity = {
    username: user.username,
    name: user.name,
    email: user.email,
    roles: user.source.startsWith('jwt:') || method === 'anonymous' ? withoutPrivileged(roles, privileged) : roles,
    projects: overrides?.projects ?? user.projects,
    source: user.source,
    attributes: overrides?.attributes ?? user.attributes,
    method,
  };
  if (user.must_change_password) identity.must_change_password = true;
  return identity;
}

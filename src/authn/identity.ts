import type { UserSource } from '../store/types.js';

export type AuthMethod = 'form' | 'basic' | 'bearer' | 'api_token' | 'session' | 'jwt_handoff' | 'anonymous';

/** Who the caller is (SPEC section 4), as every layer above authn sees it. */
export interface Identity {
  username: string;
  name: string;
  email: string;
  roles: string[];
  projects: string[];
  source: UserSource;
  /** SPEC 16: attribute KEY → its values (the user record's, shared: never modified). */
  attributes: Readonly<Record<string, readonly string[]>>;
  method: AuthMethod;
  /** Set when the identity requires a password change before anything else. */
  must_change_password?: boolean;
}

/** The outcome of one authenticator: an identity, "not my credential", or a failure. */
export type AuthnResult = { kind: 'identity'; identity: Identity } | { kind: 'not_mine' } | { kind: 'failed'; reason: LoginFailureReason; status: 401 | 503; userType: UserType; username: string };

export type UserType = 'local' | 'ldap' | 'jwt' | 'token';

export type LoginFailureReason =
  | 'unknown_user'
  | 'bad_password'
  | 'locked_out'
  | 'account_disabled'
  | 'directory_unavailable'
  | 'overloaded'
  | 'invalid_token'
  | 'expired_token'
  | 'untrusted_issuer'
  | 'privileged_role'
  | 'revoked_token'
  | 'replayed_token'
  | 'name_taken'
  | 'password_expired'
  | 'directory_identity_changed';

export function identityJson(identity: Identity): Record<string, unknown> {
  return {
    username: identity.username,
    name: identity.name,
    email: identity.email,
    roles: identity.roles,
    projects: identity.projects,
    source: identity.source,
    attributes: identity.attributes,
    method: identity.method,
  };
}

/**
 * The one answer to a credential that failed (SPEC 3): 503 when the directory or the login bound
 * says so, else 401 with its challenge: `Invalid username or password` for Basic (or
 * `password_expired` once the directory proved the password), `Invalid or expired token` for a
 * token. The gateway, the API and /.auth/me all answer with it.
 */
import { PortcullisError } from '../errors/errors.js';
import type { Authentication } from './authenticate.js';
import { loginRefusal, loginUnavailable } from './password-chain.js';

export function authenticationFailure(auth: Extract<Authentication, { kind: 'failed' }>): PortcullisError {
  if (auth.status === 503) return loginUnavailable(auth.reason);
  const basic = auth.scheme === 'Basic';
  const refusal = basic ? loginRefusal({ reason: auth.reason, verified: auth.reason === 'password_expired' }) : new PortcullisError('invalid_token', 'Invalid or expired token');
  const challenge = basic ? 'Basic realm="portcullis", charset="UTF-8"' : 'Bearer realm="portcullis", error="invalid_token"';
  return new PortcullisError(refusal.code, refusal.message, { headers: { 'www-authenticate': challenge } });
}

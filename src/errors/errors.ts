/**
 * One error base for every domain outcome the gateway reports. The `code` is stable and
 * documented in docs/errors.md (a test keeps the two in sync); `status` maps it to HTTP;
 * `expose` says whether the message may reach the client (4xx) or must be replaced by a
 * generic one and logged under the request id (5xx).
 */
export const ERROR_CODES = {
  bad_request: 400,
  invalid_path: 400,
  invalid_header: 400,
  validation_failed: 400,
  weak_password: 400,
  method_override: 400,
  body_not_inspectable: 400,
  condition_not_evaluable: 400,
  unauthenticated: 401,
  invalid_credentials: 401,
  invalid_token: 401,
  password_expired: 401,
  csrf_rejected: 403,
  forbidden: 403,
  password_change_required: 403,
  token_scope: 403,
  no_upstream_credential: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  cannot_modify_self: 409,
  last_admin: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  too_many_requests: 429,
  budget_exhausted: 429,
  too_many_headers: 431,
  internal_error: 500,
  upstream_unavailable: 502,
  upstream_busy: 503,
  directory_unavailable: 503,
  logins_overloaded: 503,
  store_unavailable: 503,
  not_ready: 503,
  upstream_timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface PortcullisErrorOptions {
  cause?: unknown;
  fields?: Record<string, string>;
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  headers?: Record<string, string>;
  status?: number;
}

export class PortcullisError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly expose: boolean;
  readonly fields: Record<string, string> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: PortcullisErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PortcullisError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code];
    this.expose = this.status < 500;
    this.fields = options.fields;
    this.headers = options.headers;
  }

  /** The JSON body clients see: 5xx never carries internal detail. */
  toJSON(): { error: { code: ErrorCode; message: string; fields?: Record<string, string> } } {
    const message = this.expose ? this.message : genericMessage(this.code);
    return {
      error: {
        code: this.code,
        message,
        ...(this.fields && this.expose ? { fields: this.fields } : {}),
      },
    };
  }
}

export function genericMessage(code: ErrorCode): string {
  switch (code) {
    case 'upstream_unavailable':
      return 'The upstream service is unavailable';
    case 'upstream_timeout':
      return 'The upstream service did not answer in time';
    case 'upstream_busy':
      return 'The upstream service is busy; try again shortly';
    case 'directory_unavailable':
      return 'The directory is unavailable';
    case 'store_unavailable':
    case 'not_ready':
      return 'The service is not ready';
    default:
      return 'Internal error';
  }
}

export const INVALID_LOGIN_MESSAGE = 'Invalid username or password';

export function isPortcullisError(err: unknown): err is PortcullisError {
  return err instanceof PortcullisError;
}

/** Wraps anything thrown into a PortcullisError, keeping the original as `cause`. */
export function toPortcullisError(err: unknown): PortcullisError {
  if (err instanceof PortcullisError) return err;
  return new PortcullisError('internal_error', 'Internal error', { cause: err });
}

/**
 * Header hygiene before forwarding (SPEC 6): remove every spelling of the identity headers,
 * forwarding headers and rewrite headers a client could use to impersonate someone or
 * confuse the backend, the headers the client's Connection header nominates, method
 * overrides, and gateway credentials; then set the identity headers once each.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { IdentityHeadersConfig } from '../config/schema.js';
import { removeCookie } from './cookies.js';

/** Lower-case, with `_` and `.` read as `-` (how many servers and frameworks fold names). */
export function normaliseHeaderName(name: string): string {
  return name.toLowerCase().replace(/[_.]/g, '-');
}

const ALWAYS_STRIPPED = [
  'forwarded',
  'x-real-ip',
  'remote-user',
  'x-remote-user',
  'x-original-url',
  'x-rewrite-url',
  'x-original-uri',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-method',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-forwarded-user',
];

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];

export class HeaderPolicy {
  private readonly stripped: Set<string>;
  private readonly identity: IdentityHeadersConfig;
  readonly sessionCookie: string;

  constructor(identity: IdentityHeadersConfig, sessionCookie: string) {
    this.identity = identity;
    this.sessionCookie = sessionCookie;
    this.stripped = new Set(ALWAYS_STRIPPED);
    for (const name of Object.values(identity)) if (name !== '') this.stripped.add(normaliseHeaderName(name));
    // Default names are stripped even when an operator renamed or disabled them: a backend
    // configured for the defaults must never see a client-supplied one.
    for (const name of ['x-auth-user', 'x-auth-roles', 'x-auth-projects', 'x-auth-name', 'x-auth-email', 'x-auth-source', 'x-auth-assertion']) this.stripped.add(name);
  }

  /** Is this (client-sent) header one the gateway must remove? */
  isSpoofable(name: string): boolean {
    const normalised = normaliseHeaderName(name);
    return this.stripped.has(normalised) || normalised.startsWith('x-forwarded-');
  }

  /**
   * Removes from `headers` (in place) everything a client must not pass to the backend.
   * `upgrade` keeps the Upgrade/Connection pair a WebSocket handshake needs.
   */
  strip(headers: IncomingHttpHeaders, options: { passCredentials: boolean; upgrade: boolean }): void {
    const connection = headers.connection;
    const nominated = typeof connection === 'string' ? connection.split(',').map((t) => normaliseHeaderName(t.trim())).filter((t) => t !== '') : [];
    for (const name of Object.keys(headers)) {
      const normalised = normaliseHeaderName(name);
      const keepForUpgrade = options.upgrade && (name === 'upgrade' || name === 'connection');
      if (!keepForUpgrade && (this.stripped.has(normalised) || normalised.startsWith('x-forwarded-') || nominated.includes(normalised) || HOP_BY_HOP.includes(name))) {
        delete headers[name];
        continue;
      }
      if (!options.passCredentials && (normalised === 'authorization' || normalised === 'x-authentication')) delete headers[name];
    }
    if (options.upgrade) {
      headers.connection = 'Upgrade';
      if (typeof headers.upgrade !== 'string') delete headers.connection;
    }
    if (!options.passCredentials && typeof headers.cookie === 'string') {
      const kept = removeCookie(headers.cookie, this.sessionCookie);
      if (kept === '') delete headers.cookie;
      else headers.cookie = kept;
    }
  }

  /** Sets each configured identity header once, percent-encoding non-printable-ASCII values. */
  setIdentity(headers: IncomingHttpHeaders, identity: { username: string; roles: readonly string[]; projects: readonly string[]; name: string; email: string; source: string } | undefined, assertion?: string): void {
    if (!identity) return;
    const names = this.identity;
    if (names.user) headers[names.user.toLowerCase()] = encodeHeaderValue(identity.username);
    if (names.roles) headers[names.roles.toLowerCase()] = encodeHeaderValue(identity.roles.join(','));
    if (names.projects) headers[names.projects.toLowerCase()] = encodeHeaderValue(identity.projects.join(','));
    if (names.name) headers[names.name.toLowerCase()] = encodeHeaderValue(identity.name);
    if (names.email) headers[names.email.toLowerCase()] = encodeHeaderValue(identity.email);
    if (names.source) headers[names.source.toLowerCase()] = encodeHeaderValue(identity.source);
    if (names.assertion && assertion) headers[names.assertion.toLowerCase()] = assertion;
  }
}

/** Printable ASCII passes as is (except `%`, so decoding is unambiguous); the rest is UTF-8 percent-encoded. */
export function encodeHeaderValue(value: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x20-\x24\x26-\x7e]*$/.test(value)) return value;
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) as number;
    if (code >= 0x20 && code <= 0x7e && char !== '%') out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

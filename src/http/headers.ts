/**
 * Header hygiene before forwarding (SPEC 6): remove every spelling of the identity headers,
 * forwarding headers and rewrite headers a client could use to impersonate someone or
 * confuse the backend, the headers the client's Connection header nominates, method
 * overrides, the client's request id and Expect, and gateway credentials; then set the
 * identity headers once each.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { IdentityHeadersConfig } from '../config/schema.js';
import { removeCookies } from './cookies.js';

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
  'x-auth-request-groups',
  'x-auth-request-preferred-username',
  'x-auth-request-access-token',
  'x-forwarded-user',
  // Client-address and host headers other proxies set and some backends believe.
  'x-forwarded',
  'true-client-ip',
  'x-client-ip',
  'client-ip',
  'x-cluster-client-ip',
  'x-host',
];

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authorization', 'proxy-authenticate'];

const KEEP = 0;
const DROP = 1;
const CREDENTIAL = 2;
const COOKIE = 3;
type HeaderKind = typeof KEEP | typeof DROP | typeof CREDENTIAL | typeof COOKIE;

export interface ForwardIdentity {
  username: string;
  roles: readonly string[];
  projects: readonly string[];
  name: string;
  email: string;
  source: string;
  attributes?: Readonly<Record<string, readonly string[]>>;
}

export interface ForwardOptions {
  passCredentials: boolean;
  upgrade: boolean;
  /** The Host the upstream receives: the client's (preserve_host) or the upstream's own. */
  host: string | undefined;
  identity: ForwardIdentity | undefined;
  assertion: string | undefined;
  forwardedFor: string;
  forwardedProto: string;
  forwardedHost: string | undefined;
  requestId: string;
  /**
   * The route's upstream credential (SPEC 15): the client's own copies of this header (every
   * spelling) or cookie are removed, then it is set once.
   */
  upstreamCredential?: { header: string; value: string } | { cookie: string; value: string } | undefined;
  /** false: no identity headers and no assertion (a route with `identity_headers: false`). */
  identityHeaders?: boolean;
}

/** The header names a Connection header value nominates: lower-case, without close and keep-alive. */
export function connectionTokens(value: string): string[] {
  return value
    .toLowerCase()
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '' && t !== 'keep-alive' && t !== 'close');
}

/**
 * What frames the request: never removed because a client's Connection header names it. A
 * request whose `Connection: Content-Length` dropped its length went upstream unframed, and its
 * body was read there as a second request with whatever identity headers the client wrote.
 */
const FRAMING = ['content-length', 'transfer-encoding', 'host'];

/** Header names the client's Connection header nominates (normalised), or undefined for none. */
function nominatedBy(connection: string | string[] | undefined): string[] | undefined {
  if (typeof connection !== 'string') return undefined;
  const lower = connection.toLowerCase();
  if (lower === 'keep-alive' || lower === 'close' || lower === 'upgrade') return undefined;
  const names = connectionTokens(lower)
    .map(normaliseHeaderName)
    .filter((name) => !FRAMING.includes(name));
  return names.length === 0 ? undefined : names;
}

/** Headers for the upstream as `[name, value, ...]`: lower-case names, each once. */
export type UpstreamHeaders = Array<string | string[]>;

/** An UpstreamHeaders list as an object. */
export function headerObject(list: UpstreamHeaders): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) headers[list[i] as string] = list[i + 1] as string | string[];
  return headers;
}

export class HeaderPolicy {
  private readonly stripped: Set<string>;
  private readonly kinds = new Map<string, HeaderKind>();
  /** The configured identity header names, lower-case ('' = not sent). */
  private readonly identityNames: Omit<IdentityHeadersConfig, 'assertion' | 'attributes'>;
  /** `identity_headers.attributes` as [attribute key, lower-case header name] (SPEC 16). */
  private readonly attributeNames: ReadonlyArray<readonly [string, string]>;
  private readonly assertionName: string;
  private readonly pairsOf = new WeakMap<ForwardIdentity, string[]>();
  /** Cookies that are gateway credentials: the session cookie and every issuer's hand-off cookie. */
  private readonly credentialCookies: readonly string[];

  constructor(identity: Omit<IdentityHeadersConfig, 'attributes'> & { attributes?: IdentityHeadersConfig['attributes'] }, sessionCookie: string, handoffCookies: readonly string[] = []) {
    const { assertion, attributes = {}, ...names } = identity;
    this.credentialCookies = [sessionCookie, ...handoffCookies.filter((name) => name !== '' && name !== sessionCookie)];
    this.identityNames = Object.fromEntries(Object.entries(names).map(([key, name]) => [key, name.toLowerCase()])) as Omit<IdentityHeadersConfig, 'assertion' | 'attributes'>;
    this.attributeNames = Object.entries(attributes).map(([key, name]) => [key, name.toLowerCase()] as const);
    this.assertionName = assertion.toLowerCase();
    this.stripped = new Set(ALWAYS_STRIPPED);
    for (const name of [...Object.values(names), assertion, ...Object.values(attributes)]) if (name !== '') this.stripped.add(normaliseHeaderName(name));
    // Default names are stripped even when an operator renamed or disabled them: a backend
    // configured for the defaults must never see a client-supplied one.
    for (const name of ['x-auth-user', 'x-auth-roles', 'x-auth-projects', 'x-auth-name', 'x-auth-email', 'x-auth-source', 'x-auth-assertion']) this.stripped.add(name);
  }

  /**
   * The headers the upstream receives, as a flat list `[name, value, ...]` with lower-case
   * names, each name once, built in one pass over the client's headers. Everything a client
   * must not pass is left out; then the Host, identity and forwarding headers are set once
   * each. `upgrade` keeps the Upgrade/Connection pair a WebSocket handshake needs.
   *
   * A list rather than an object because Node's ClientRequest takes a list as it is (one
   * validation per header while writing the head), where an object costs a `setHeader` per
   * header: a second lower-casing, a store into a dictionary and its enumeration, and
   * http-proxy's copy of the object before that (see withUpstreamHeaderLists).
   */
  forwardHeaderList(source: IncomingHttpHeaders, options: ForwardOptions): UpstreamHeaders {
    const out: UpstreamHeaders = options.host === undefined ? [] : ['host', options.host];
    const nominated = nominatedBy(source.connection);
    const credential = options.upstreamCredential;
    const credentialHeader = credential !== undefined && 'header' in credential ? normaliseHeaderName(credential.header) : undefined;
    const credentialCookie = credential !== undefined && 'cookie' in credential ? credential.cookie.toLowerCase() : undefined;
    let cookieSent = false;
    for (const name in source) {
      let value = source[name];
      if (value === undefined) continue;
      if (credentialHeader !== undefined && normaliseHeaderName(name) === credentialHeader) continue;
      if (credentialCookie !== undefined && name === 'cookie' && typeof value === 'string') {
        value = withoutCookie(value, credentialCookie);
        if (value === '') continue;
      }
      const kind = this.kindOf(name);
      if (kind === KEEP) {
        if (nominated === undefined || !nominated.includes(normaliseHeaderName(name))) out.push(name, value);
      } else if (kind === CREDENTIAL) {
        if (options.passCredentials && (nominated === undefined || !nominated.includes(normaliseHeaderName(name)))) out.push(name, value);
      } else if (kind === COOKIE) {
        if (typeof value !== 'string' || nominated?.includes('cookie')) continue;
        const kept = options.passCredentials || !this.credentialCookies.some((name) => value.includes(name)) ? value : removeCookies(value, this.credentialCookies);
        if (kept === '') continue;
        // The upstream credential cookie joins the client's other cookies in the one Cookie header.
        out.push('cookie', credential !== undefined && 'cookie' in credential ? `${kept}; ${credential.cookie}=${credential.value}` : kept);
        cookieSent = true;
      }
    }
    // A body without Content-Length keeps its framing: Node re-chunks it. Without this a GET
    // with a chunked body would reach the upstream unframed, as the start of another request.
    const te = source['transfer-encoding'];
    if (te !== undefined && source['content-length'] === undefined) out.push('transfer-encoding', te);
    if (options.upgrade && typeof source.upgrade === 'string') out.push('upgrade', source.upgrade, 'connection', 'Upgrade');
    if (credential !== undefined) {
      if ('header' in credential) out.push(credential.header.toLowerCase(), credential.value);
      else if (!cookieSent) out.push('cookie', `${credential.cookie}=${credential.value}`);
    }
    if (options.identity && options.identityHeaders !== false) {
      const pairs = this.identityPairs(options.identity);
      for (let i = 0; i < pairs.length; i++) out.push(pairs[i] as string);
      if (this.assertionName !== '' && options.assertion) out.push(this.assertionName, options.assertion);
    }
    out.push('x-forwarded-for', options.forwardedFor, 'x-forwarded-proto', options.forwardedProto);
    if (options.forwardedHost !== undefined) out.push('x-forwarded-host', options.forwardedHost);
    out.push('x-request-id', options.requestId);
    return out;
  }

  /** forwardHeaderList as a header object (a WebSocket handshake, which http-proxy sends with its own request). */
  forwardHeaders(source: IncomingHttpHeaders, options: ForwardOptions): IncomingHttpHeaders {
    return headerObject(this.forwardHeaderList(source, options));
  }

  /** What happens to a client header of this (lower-case) name; remembered per name. */
  private kindOf(name: string): HeaderKind {
    let kind = this.kinds.get(name);
    if (kind === undefined) {
      const normalised = normaliseHeaderName(name);
      if (HOP_BY_HOP.includes(name) || this.stripped.has(normalised) || normalised.startsWith('x-forwarded-')) kind = DROP;
      else if (normalised === 'authorization' || normalised === 'x-authentication') kind = CREDENTIAL;
      else if (name === 'cookie') kind = COOKIE;
      // Host and X-Request-Id are the gateway's to set (every spelling: CGI, WSGI and PHP fold
      // X_Request_Id into the same HTTP_X_REQUEST_ID). Expect was answered by the gateway
      // (100 Continue) and the body is already on its way: forwarded, it lets an upstream that
      // answers early read that body as the next request on a pooled connection.
      else if (name === 'host' || normalised === 'x-request-id' || name === 'expect') kind = DROP;
      else kind = KEEP;
      // Header names are the client's choice: remember a bounded number of them.
      if (this.kinds.size < 1024) this.kinds.set(name, kind);
    }
    return kind;
  }

  /** Sets each configured identity header once, percent-encoding non-printable-ASCII values. */
  setIdentity(headers: IncomingHttpHeaders, identity: ForwardIdentity | undefined, assertion?: string): void {
    if (!identity) return;
    const pairs = this.identityPairs(identity);
    for (let i = 0; i < pairs.length; i += 2) headers[pairs[i] as string] = pairs[i + 1] as string;
    if (this.assertionName !== '' && assertion) headers[this.assertionName] = assertion;
  }

  /**
   * The identity headers of an identity as [name, value, ...], names lower-case. Shared, frozen
   * identities (see identityOf) keep theirs: they are the same for every request.
   */
  private identityPairs(identity: ForwardIdentity): string[] {
    const known = this.pairsOf.get(identity);
    if (known !== undefined) return known;
    const pairs: string[] = [];
    for (const [name, value] of [
      [this.identityNames.user, encodeHeaderValue(identity.username)],
      [this.identityNames.roles, listValue(identity.roles)],
      [this.identityNames.projects, listValue(identity.projects)],
      [this.identityNames.name, encodeHeaderValue(identity.name)],
      [this.identityNames.email, encodeHeaderValue(identity.email)],
      [this.identityNames.source, encodeHeaderValue(identity.source)],
    ] as const) {
      if (name !== '') pairs.push(name, value);
    }
    // Attribute headers (SPEC 16): only for keys the identity holds; a comma in a value is %2C.
    const held = identity.attributes;
    for (const [key, name] of this.attributeNames) {
      const values = held !== undefined && Object.hasOwn(held, key) ? held[key] : undefined;
      if (values !== undefined && values.length > 0) pairs.push(name, listValue(values));
    }
    if (Object.isFrozen(identity)) this.pairsOf.set(identity, pairs);
    return pairs;
  }
}

/** A Cookie header without every cookie of this (lower-case) name, whatever its case. */
function withoutCookie(header: string, lowerName: string): string {
  if (!header.toLowerCase().includes(lowerName)) return header;
  return header
    .split(';')
    .map((part) => part.trim())
    .filter(
      (part) =>
        part !== '' &&
        part
          .replace(/^[\s=]+/, '')
          .split('=')[0]
          ?.trim()
          .toLowerCase() !== lowerName,
    )
    .join('; ');
}

/**
 * A list header value: each item encoded, and a comma inside an item as `%2C`, so that a role
 * an external issuer named `user,admin` reaches a backend that splits on commas as one role,
 * not as `user` and `admin`.
 */
function listValue(items: readonly string[]): string {
  let out = '';
  for (let i = 0; i < items.length; i++) {
    const item = encodeHeaderValue(items[i] as string);
    out += (i === 0 ? '' : ',') + (item.includes(',') ? item.replaceAll(',', '%2C') : item);
  }
  return out;
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

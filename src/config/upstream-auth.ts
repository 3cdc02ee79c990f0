/**
 * The cross-field checks of `routes[].upstream_auth` and `server.secret_key` (SPEC 15), and the
 * template syntax its claims use: `{username}`, `{name}`, `{email}`, `{roles}`, `{projects}`,
 * `{organisation}`, `{attr.KEY}`; any other text is literal.
 */
import type { Config, UpstreamAccountConfig, UpstreamAuthConfig } from './schema.js';
import { ATTRIBUTE_KEY } from './schema.js';

export const TEMPLATE_NAMES = ['username', 'name', 'email', 'roles', 'projects', 'organisation'] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

/** A parsed template: literal text and placeholders in order. */
export type TemplatePart = { literal: string } | { name: TemplateName } | { attr: string };

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** The parts of a template, or the first unknown placeholder name. */
export function parseTemplate(text: string): { ok: true; parts: TemplatePart[] } | { ok: false; unknown: string } {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of text.matchAll(PLACEHOLDER)) {
    const inner = match[1] as string;
    if (match.index > last) parts.push({ literal: text.slice(last, match.index) });
    if ((TEMPLATE_NAMES as readonly string[]).includes(inner)) parts.push({ name: inner as TemplateName });
    else if (inner.startsWith('attr.') && ATTRIBUTE_KEY.test(inner.slice(5))) parts.push({ attr: inner.slice(5) });
    else return { ok: false, unknown: inner };
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push({ literal: text.slice(last) });
  return { ok: true, parts };
}

/** 32 bytes as 64 hex characters (`openssl rand -hex 32`), or undefined for anything else. */
export function parseSecretKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  return /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : undefined;
}

/** The fallback entries of a header upstream_auth as a list. */
export function fallbackList(auth: UpstreamAuthConfig): UpstreamAccountConfig[] {
  if (auth.fallback === undefined) return [];
  return Array.isArray(auth.fallback) ? auth.fallback : [auth.fallback];
}

const JWT_KEYS = ['algorithm', 'key_file', 'claims', 'deliver'] as const;
const BASIC_KEYS = ['accounts'] as const;
const HEADER_KEYS = ['name', 'values', 'per_user', 'fallback'] as const;

export function upstreamAuthProblems(config: Config, add: (path: string, message: string) => void): void {
  const secret = config.server.secret_key;
  if (secret !== '' && parseSecretKey(secret) === undefined) {
    add(config.server.secret_key_file !== '' ? 'server.secret_key_file' : 'server.secret_key', 'must be 32 random bytes as 64 hex characters (openssl rand -hex 32)');
  }
  config.routes.forEach((route, i) => {
    const auth = route.upstream_auth;
    if (auth === undefined) return;
    const path = `routes[${i}].upstream_auth`;
    const foreign = (keys: readonly string[]): void => {
      for (const key of [...JWT_KEYS, ...BASIC_KEYS, ...HEADER_KEYS]) {
        if (keys.includes(key)) continue;
        const value = (auth as Record<string, unknown>)[key];
        const unset =
          value === undefined ||
          value === '' ||
          value === false ||
          (Array.isArray(value) && value.length === 0) ||
          (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
        if (!unset) add(`${path}.${key}`, `not a key of type ${auth.type}`);
      }
    };
    if (auth.type === 'jwt') {
      foreign(JWT_KEYS);
      if (auth.algorithm === undefined) add(`${path}.algorithm`, 'required for type jwt: EdDSA, ES256, RS256, HS256 or HS512');
      if (auth.key_file === '') add(`${path}.key_file`, 'required for type jwt: the private key or HS secret');
      if (auth.lifetime <= 0) add(`${path}.lifetime`, 'must be positive');
      else if (auth.lifetime < 120_000) add(`${path}.lifetime`, 'must be at least 2m (minted tokens are reused until 1 min before exp)');
      const deliver = auth.deliver;
      const ways = deliver === undefined ? 0 : (deliver.header !== undefined ? 1 : 0) + (deliver.cookie !== undefined ? 1 : 0);
      if (ways !== 1) add(`${path}.deliver`, 'required: exactly one of { header } (with an optional scheme) or { cookie }');
      if (deliver?.scheme !== undefined && deliver.header === undefined) add(`${path}.deliver.scheme`, 'only with deliver.header');
      for (const [claim, value] of Object.entries(auth.claims)) {
        if (claim === 'iat' || claim === 'exp' || claim === 'nbf') add(`${path}.claims.${claim}`, 'set by the gateway from lifetime');
        const texts = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
        for (const text of texts) {
          const parsed = parseTemplate(text);
          if (!parsed.ok) add(`${path}.claims.${claim}`, `unknown template {${parsed.unknown}}: use {${TEMPLATE_NAMES.join('}, {')}} or {attr.KEY}`);
        }
      }
    } else if (auth.type === 'basic') {
      foreign(BASIC_KEYS);
      if (auth.accounts.length === 0) add(`${path}.accounts`, 'required for type basic: at least one account');
      auth.accounts.forEach((account, j) => {
        if (account.username === '') add(`${path}.accounts[${j}].username`, 'required');
        if (account.password === '' && account.password_file === '') add(`${path}.accounts[${j}].password_file`, 'required (or password)');
        if (account.value !== '' || account.value_file !== '') add(`${path}.accounts[${j}].value`, 'accounts take username and password');
      });
    } else {
      foreign(HEADER_KEYS);
      if (auth.name === undefined) add(`${path}.name`, 'required for type header: the header the backend reads');
      else if (/^(host|connection|content-length|transfer-encoding|upgrade|cookie)$/i.test(auth.name)) add(`${path}.name`, `${auth.name} cannot carry an upstream credential`);
      if (!auth.per_user && auth.values.length === 0) add(`${path}.values`, 'required without per_user: at least one { roles, value_file }');
      if (!auth.per_user && auth.fallback !== undefined) add(`${path}.fallback`, 'only with per_user: true (use values for static credentials)');
      if (auth.per_user && auth.values.length > 0) add(`${path}.values`, 'with per_user use fallback');
      const entries: Array<[string, UpstreamAccountConfig]> = [
        ...auth.values.map((entry, j): [string, UpstreamAccountConfig] => [`${path}.values[${j}]`, entry]),
        ...fallbackList(auth).map((entry, j): [string, UpstreamAccountConfig] => [Array.isArray(auth.fallback) ? `${path}.fallback[${j}]` : `${path}.fallback`, entry]),
      ];
      for (const [entryPath, entry] of entries) {
        if (entry.value === '' && entry.value_file === '') add(`${entryPath}.value_file`, 'required (or value)');
        if (entry.username !== '' || entry.password !== '' || entry.password_file !== '') add(`${entryPath}.username`, 'header entries take a value');
      }
      if (auth.per_user && secret === '') add(`${path}.per_user`, 'needs server.secret_key_file: per-user credentials are stored encrypted with it');
    }
  });
}

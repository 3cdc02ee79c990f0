/** Cross-field checks: each returns every problem with its key path (Authelia's habit). */
import { BlockList, isIP } from 'node:net';
import { MAX_QUOTA_WINDOW_MS, MINIMUM_PRIVILEGED_ROLES, type Config } from './schema.js';
import type { ConfigProblem } from './problem.js';
import { configuredHostProblem } from '../http/host.js';
import { upstreamAuthProblems } from './upstream-auth.js';

export function crossFieldProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };

  if (!parseListen(config.server.listen)) add('server.listen', 'must be host:port');
  if (config.metrics.listen !== '' && !parseListen(config.metrics.listen)) add('metrics.listen', 'must be host:port or ""');
  if (config.metrics.listen !== '' && config.metrics.listen === config.server.listen && parseListen(config.server.listen)?.port !== 0) add('metrics.listen', 'must differ from server.listen');
  try {
    new URL(config.server.public_url);
  } catch {
    add('server.public_url', 'must be an absolute URL');
  }
  config.server.trusted_proxies.forEach((entry, i) => {
    if (!parseCidr(entry)) add(`server.trusted_proxies[${i}]`, `not an IP address or CIDR: ${entry}`);
  });

  // Zero makes no sense for these: the key would rotate hourly, never lock, or purge everything.
  if (config.server.signing_key_rotation <= 0) add('server.signing_key_rotation', 'must be positive');
  if (config.users.lockout.window <= 0) add('users.lockout.window', 'must be positive (failures are counted within it)');
  if (config.users.lockout.duration <= 0) add('users.lockout.duration', 'must be positive (a lockout of 0s locks nobody)');
  if (config.events.retention <= 0) add('events.retention', 'must be positive (0s would purge every stored event)');

  const policy = config.users.password_policy;
  if (policy.min_length > policy.max_length) add('users.password_policy.min_length', 'must not exceed max_length');
  if (config.session.idle_timeout > config.session.max_lifetime) add('session.idle_timeout', 'must not exceed session.max_lifetime');
  if (config.session.idle_timeout <= 0) add('session.idle_timeout', 'must be positive');
  if (config.anonymous_user !== '' && !/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/.test(config.anonymous_user)) add('anonymous_user', 'must be a valid username or ""');

  for (const role of MINIMUM_PRIVILEGED_ROLES) {
    if (!config.access.privileged_roles.includes(role))
      add('access.privileged_roles', `must include ${role} (at least [${MINIMUM_PRIVILEGED_ROLES.join(', ')}]: no external source may ever grant them)`);
  }
  if (config.ldap) ldapProblems(config, add);
  jwtIssuerProblems(config, add);

  const headerNames = new Map<string, string>();
  const { attributes: attributeHeaders, ...namedHeaders } = config.identity_headers;
  const identityHeaders: Array<[string, string]> = [...Object.entries(namedHeaders), ...Object.entries(attributeHeaders).map(([key, name]): [string, string] => [`attributes.${key}`, name])];
  for (const [key, name] of identityHeaders) {
    if (name === '') continue;
    const lower = name.toLowerCase();
    const seen = headerNames.get(lower);
    if (seen) add(`identity_headers.${key}`, `same header as identity_headers.${seen}`);
    headerNames.set(lower, key);
    if (/^(host|connection|cookie|authorization|content-length|transfer-encoding|x-authentication|forwarded|x-forwarded-.*)$/.test(lower)) {
      add(`identity_headers.${key}`, `${name} cannot be used as an identity header`);
    }
  }

  uniqueNames(config.routes, 'routes', add);
  config.routes.forEach((route, i) => {
    if (route.upstream !== 'builtin:echo') {
      try {
        const url = new URL(route.upstream);
        if (url.pathname !== '/' && url.pathname !== '') add(`routes[${i}].upstream`, 'must be scheme://host:port without a path');
      } catch {
        add(`routes[${i}].upstream`, 'must be an absolute URL or builtin:echo');
      }
    }
    if (route.timeout <= 0) add(`routes[${i}].timeout`, 'must be positive');
    // Compared with the request's host as hostOf gives it: a port or a wildcard would never match.
    const hostProblem = route.host === '' ? undefined : configuredHostProblem(route.host);
    if (hostProblem !== undefined) add(`routes[${i}].host`, hostProblem);
  });

  upstreamAuthProblems(config, add);

  uniqueNames(config.access.rules, 'access.rules', add);
  config.access.rules.forEach((rule, i) => {
    if (rule.roles.length > 0 && rule.policy !== 'authenticated') add(`access.rules[${i}].roles`, `only allowed with policy authenticated (policy is ${rule.policy})`);
    if (rule.quota && (rule.policy === 'public' || rule.policy === 'deny')) add(`access.rules[${i}].quota`, `counts per user, so it needs policy authenticated or grant (policy is ${rule.policy})`);
    const per = rule.quota?.per;
    if (per !== undefined && per <= 0) add(`access.rules[${i}].quota.per`, 'must be positive');
    // The store keeps a window's counter for 366 days: a longer window would lose its count midway.
    if (per !== undefined && per > MAX_QUOTA_WINDOW_MS) add(`access.rules[${i}].quota.per`, 'must be at most 366d');
    const readsOnly = rule.methods.length > 0 && rule.methods.every((m) => m === 'GET' || m === 'HEAD');
    if (rule.body !== undefined && readsOnly) add(`access.rules[${i}].body`, 'a GET or HEAD request carries no body to inspect: remove the condition or allow a method with a body');
    if (rule.body !== undefined && Object.keys(rule.body).length === 0) add(`access.rules[${i}].body`, 'names no field');
    rule.networks?.forEach((entry, j) => {
      if (!parseCidr(entry)) add(`access.rules[${i}].networks[${j}]`, `not an IP address or CIDR: ${entry}`);
    });
  });

  config.events.webhooks.forEach((hook, i) => {
    if (hook.secret === '') add(`events.webhooks[${i}].secret_file`, 'required: webhooks are signed with HMAC-SHA256');
    webhookUrlProblems(hook.url, `events.webhooks[${i}].url`, add);
    if (hook.timeout <= 0) add(`events.webhooks[${i}].timeout`, 'must be positive (every delivery would abort at once)');
  });
  return problems;
}

function ldapProblems(config: Config, add: (path: string, message: string) => void): void {
  const ldap = config.ldap;
  if (!ldap) return;
  const urls = Array.isArray(ldap.url) ? ldap.url : ldap.url === '' ? [] : [ldap.url];
  if (urls.length === 0) {
    add('ldap.url', 'required when the ldap block is present');
    return;
  }
  urls.forEach((url, i) => {
    const path = Array.isArray(ldap.url) ? `ldap.url[${i}]` : 'ldap.url';
    if (!/^ldaps?:\/\/[^\s/]+\/?$/.test(url)) add(path, 'must be ldap://host[:port] or ldaps://host[:port] (the value is not repeated: it may carry a password)');
    if (ldap.start_tls && url.startsWith('ldaps://')) add('ldap.start_tls', 'cannot be combined with an ldaps:// URL');
  });
  if (ldap.user_dn_template === '') {
    if (ldap.user_base === '') add('ldap.user_base', 'required when ldap.url is set');
    if (!ldap.user_filter.includes('{username}')) add('ldap.user_filter', 'must contain {username}');
    if (!/^\(.*\)$/.test(ldap.user_filter)) add('ldap.user_filter', 'must be a parenthesised LDAP filter');
  } else if (!ldap.user_dn_template.includes('{username}')) {
    add('ldap.user_dn_template', 'must contain {username}');
  }
  if (ldap.bind_dn !== '' && ldap.bind_password === '') add('ldap.bind_password', 'required when ldap.bind_dn is set (or bind_password_file)');
  if (ldap.bind_dn === '' && ldap.bind_password !== '') add('ldap.bind_dn', 'required when ldap.bind_password is set');
  if (ldap.group_base !== '' && !ldap.group_filter.includes('{dn}') && !ldap.group_filter.includes('{username}')) {
    add('ldap.group_filter', 'must contain {dn} or {username}');
  }
  if (!ldap.allow_privileged_roles) {
    const privileged = new Set(config.access.privileged_roles);
    for (const [group, roles] of Object.entries(ldap.role_mapping)) {
      for (const role of roles) {
        if (privileged.has(role)) add(`ldap.role_mapping.${group}`, `maps to privileged role ${role}; set ldap.allow_privileged_roles: true to allow it`);
      }
    }
    for (const role of ldap.default_roles) {
      if (privileged.has(role)) add('ldap.default_roles', `names privileged role ${role}; set ldap.allow_privileged_roles: true to allow it`);
    }
  }
  if (ldap.timeout <= 0) add('ldap.timeout', 'must be positive');
  if (ldap.refresh_interval <= 0) add('ldap.refresh_interval', 'must be positive (at least 1s)');
  else if (ldap.refresh_interval < 1000) add('ldap.refresh_interval', 'must be at least 1s (every session and token of an ldap user is re-checked this often)');
  if (ldap.disabled_filter !== '' && !/^\(.*\)$/.test(ldap.disabled_filter)) add('ldap.disabled_filter', 'must be a parenthesised LDAP filter');
  if (ldap.implementation !== 'activedirectory' && (ldap.upn_suffixes.length > 0 || ldap.netbios_domain !== ''))
    add('ldap.implementation', 'upn_suffixes and netbios_domain are login-name forms of activedirectory');
}

const HMAC_ALGS = new Set(['HS256', 'HS384', 'HS512']);

function jwtIssuerProblems(config: Config, add: (path: string, message: string) => void): void {
  uniqueNames(config.jwt_issuers, 'jwt_issuers', add);
  const issuers = new Set<string>();
  config.jwt_issuers.forEach((issuer, i) => {
    const base = `jwt_issuers[${i}]`;
    if (issuers.has(issuer.issuer)) add(`${base}.issuer`, `issuer ${issuer.issuer} is configured twice`);
    issuers.add(issuer.issuer);
    if (issuer.issuer === config.server.public_url) add(`${base}.issuer`, "must differ from server.public_url (the gateway's own issuer)");
    const sources = [issuer.jwks_url !== '', issuer.public_key_file !== '', issuer.secret !== ''].filter(Boolean).length;
    if (sources !== 1) add(base, 'needs exactly one key source: jwks_url, public_key_file, or secret / secret_file');
    const hmac = issuer.algorithms.filter((a) => HMAC_ALGS.has(a));
    if (hmac.length > 0 && hmac.length !== issuer.algorithms.length) add(`${base}.algorithms`, 'cannot mix HS* with public-key algorithms');
    if (hmac.length > 0 && issuer.secret === '') add(`${base}.secret`, 'HS* algorithms need secret or secret_file');
    if (issuer.secret !== '' && hmac.length === 0) add(`${base}.algorithms`, 'a shared secret only works with HS256, HS384 or HS512');
    if (issuer.secret !== '' && Buffer.byteLength(issuer.secret, 'utf8') < 32) add(`${base}.secret`, 'must be at least 32 bytes');
    if (issuer.jwks_url !== '' && !/^https?:\/\//.test(issuer.jwks_url)) add(`${base}.jwks_url`, 'must be an http(s) URL');
    if (issuer.max_token_lifetime <= 0) add(`${base}.max_token_lifetime`, 'must be positive');
    if (issuer.jwks_timeout <= 0) add(`${base}.jwks_timeout`, 'must be positive (every JWKS fetch would abort at once)');
  });
}

/**
 * Node's fetch refuses a URL with user-info (`https://user:pass@host/`), so every delivery to it
 * would fail. The URL is never repeated: its user-info or path may be a secret.
 */
function webhookUrlProblems(url: string, path: string, add: (path: string, message: string) => void): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    add(path, 'must be an absolute http(s) URL (the value is not repeated: it may carry a secret)');
    return;
  }
  if (parsed.username !== '' || parsed.password !== '') {
    add(path, 'must not contain user-info (user:password@): fetch refuses such URLs; the receiver can check X-Portcullis-Signature instead (the value is not repeated)');
  }
}

function uniqueNames(items: Array<{ name: string }>, path: string, add: (path: string, message: string) => void): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    if (seen.has(item.name)) add(`${path}[${i}].name`, `duplicate name ${item.name}`);
    seen.add(item.name);
  });
}

export function parseListen(listen: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(listen);
  if (!match) return undefined;
  const port = Number(match[3]);
  if (port > 65535) return undefined;
  return { host: (match[1] ?? match[2]) as string, port };
}

export function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const [address, prefixText] = entry.split('/');
  if (!address) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Builds a BlockList of trusted proxy CIDRs (IPv4-mapped IPv6 peers are checked as IPv4). */
export function trustedProxyList(entries: string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr) list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return list;
}

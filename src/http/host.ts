/** The host a request is for, in the one form routes and access rules compare. */
import { isIP } from 'node:net';

const HOSTNAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const PORT = /^:\d{1,5}$/;

/**
 * The Host header as routes and rules compare it: lower-case, without port or a trailing dot
 * (`Admin.Example.org.:80` is `admin.example.org`, as DNS and name-based virtual hosts read it),
 * IPv6 literals in their canonical form. '' when absent; undefined when malformed (empty
 * labels, characters no hostname has): such a request is refused, never matched as host-less.
 */
export function hostOf(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return '';
  let host = hostHeader.trim().toLowerCase();
  if (host === '') return '';
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end === -1 || (end + 1 < host.length && !PORT.test(host.slice(end + 1)))) return undefined;
    try {
      const canonical = new URL(`http://${host.slice(0, end + 1)}/`).hostname;
      return canonical.startsWith('[') ? canonical : undefined;
    } catch {
      return undefined;
    }
  }
  const colon = host.indexOf(':');
  if (colon !== -1) {
    if (!PORT.test(host.slice(colon))) return undefined;
    host = host.slice(0, colon);
  }
  if (host.endsWith('.')) host = host.slice(0, -1);
  return HOSTNAME.test(host) ? host : undefined;
}

/**
 * A host named in the configuration (`routes[].host`, `access.rules[].hosts` without their `*.`),
 * in the form hostOf gives a request's Host, so the two compare: `Admin.Example.org.` is
 * `admin.example.org`, `[0:0:0:0:0:0:0:1]` is `[::1]`. An entry configuredHostProblem refuses
 * (config check does) is kept lower-cased, and then matches no request.
 */
export function configuredHost(host: string): string {
  const trimmed = host.trim();
  if (trimmed === '') return '';
  return configuredHostProblem(trimmed) === undefined ? (hostOf(trimmed) as string) : trimmed.toLowerCase();
}

/**
 * Why a configured host can never equal the host of a request, or undefined. A port is refused:
 * requests are compared without theirs, so `admin.example.org:8443` would match nothing. With
 * `wildcard`, `*.example.org` (one label under example.org) is a host too.
 */
export function configuredHostProblem(host: string, options: { wildcard?: boolean } = {}): string | undefined {
  const trimmed = host.trim();
  if (trimmed === '') return 'must not be empty';
  const prefix = trimmed.startsWith('*.') ? '*.' : '';
  if (prefix !== '' && !options.wildcard) return `${trimmed}: a route's host is matched exactly (wildcards are for access.rules[].hosts)`;
  const name = trimmed.slice(prefix.length);
  if (prefix !== '' && (name.startsWith('[') || isIP(name) !== 0)) return `${trimmed}: a wildcard stands for one label of a host name, not part of an IP address`;
  if (isIP(name) === 6) return `write an IPv6 address in brackets: [${name.toLowerCase()}]`;
  const portAt = name.startsWith('[') ? name.indexOf(']') + 1 : name.indexOf(':');
  if (portAt > 0 && portAt < name.length && name[portAt] === ':') {
    const bare = hostOf(name.slice(0, portAt));
    return `Host headers are compared without their port, so ${trimmed} never matches${bare ? `; write ${prefix}${bare} (it matches every port)` : ''}`;
  }
  return hostOf(name) === undefined ? `${trimmed} is not a host name` : undefined;
}

/** The host a request is for, in the one form routes and access rules compare. */
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

const HOSTNAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
const PORT = /^:\d{1,5}$/;

/** A Host value that names a port: its name as hostOf gives it, and the port as written (`:8443`). */
interface NameAndPort {
  name: string;
  port: string;
}

/**
 * A Host value read in one pass: its name in hostOf's form, alone when the value names no port
 * (the common case costs no object), with its `:port` when it names one; '' when the value is
 * empty; undefined when it is malformed.
 */
function splitHost(value: string): string | NameAndPort | undefined {
  const host = value.trim().toLowerCase();
  if (host === '') return '';
  let name: string;
  let portAt: number;
  if (host.startsWith('[')) {
    portAt = host.indexOf(']') + 1;
    if (portAt === 0) return undefined;
    try {
      name = new URL(`http://${host.slice(0, portAt)}/`).hostname;
    } catch {
      return undefined;
    }
    if (!name.startsWith('[')) return undefined;
  } else {
    portAt = host.indexOf(':');
    if (portAt === -1) portAt = host.length;
    name = portAt === host.length ? host : host.slice(0, portAt);
    if (name.endsWith('.')) name = name.slice(0, -1);
    if (!HOSTNAME.test(name)) return undefined;
  }
  if (portAt === host.length) return name;
  const port = host.slice(portAt);
  return PORT.test(port) ? { name, port } : undefined;
}

/**
 * The Host header as routes and rules compare it: lower-case, without port or a trailing dot
 * (`Admin.Example.org.:80` is `admin.example.org`, as DNS and name-based virtual hosts read it),
 * IPv6 literals in their canonical form. '' when absent; undefined when malformed (empty
 * labels, characters no hostname has): such a request is refused, never matched as host-less.
 */
export function hostOf(hostHeader: string | undefined): string | undefined {
  if (hostHeader === undefined) return '';
  const host = splitHost(hostHeader);
  return typeof host === 'object' ? host.name : host;
}

/** The host a request is for: the name routes and rules judge, and the authority forwarded. */
interface RequestHost {
  /** As hostOf gives it: lower-case, no port, no trailing dot; '' when the request names none. */
  name: string;
  /** `name` with the port the request named, if any: the upstream's X-Forwarded-Host, and its Host with preserve_host. */
  authority: string | undefined;
}

const NO_HOST: RequestHost = Object.freeze({ name: '', authority: undefined });

/**
 * The host a request is for, one answer for routing, the rules, /.auth/verify and what the
 * upstream is told. From a peer in server.trusted_proxies it is the last X-Forwarded-Host
 * value when there is one (the nearest proxy's word for what the client asked: it may have set
 * Host to the gateway's own name), else Host; from any other peer it is Host. Undefined when
 * that header is not a host name (a forwarded one that is empty included): such a request is
 * refused, never judged as host-less.
 */
export function requestHost(headers: IncomingHttpHeaders, peerTrusted: boolean): RequestHost | undefined {
  const forwarded = peerTrusted ? headers['x-forwarded-host'] : undefined;
  let header: string | undefined;
  if (typeof forwarded === 'string') {
    // The nearest trusted proxy's word: the last value (a proxy that appends adds its own at the
    // end; values to the left came from further away, the client itself included).
    const comma = forwarded.lastIndexOf(',');
    header = (comma === -1 ? forwarded : forwarded.slice(comma + 1)).trim();
    if (header === '') return undefined;
  } else {
    header = headers.host;
    if (header === undefined) return NO_HOST;
  }
  const host = splitHost(header);
  if (host === undefined) return undefined;
  if (host === '') return NO_HOST;
  return typeof host === 'object' ? { name: host.name, authority: host.name + host.port } : { name: host, authority: host };
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
  const parsed = splitHost(name);
  if (parsed === undefined) return `${trimmed} is not a host name`;
  if (typeof parsed === 'object') return `Host headers are compared without their port, so ${trimmed} never matches; write ${prefix}${parsed.name} (it matches every port)`;
  return undefined;
}

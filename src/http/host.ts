/** The host a request is for, in the one form routes and access rules compare. */
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

/** A host named in the configuration, compared the same way (lower-case, no trailing dot). */
export function configuredHost(host: string): string {
  const lower = host.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * Same-origin checks for state-changing browser requests (CSRF defence). Fetch metadata
 * (`Sec-Fetch-Site`) decides when present; else `Origin` must be the gateway's own origin;
 * a request with neither comes from a non-browser client and passes.
 */
import type { IncomingMessage } from 'node:http';

export function isSameOrigin(req: IncomingMessage, publicUrl: string): boolean {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== '') return site === 'same-origin' || site === 'none';
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== '') {
    if (origin === 'null') return false;
    const allowed = new Set<string>();
    try {
      allowed.add(new URL(publicUrl).origin);
    } catch {
      // an invalid public_url is refused by config validation
    }
    const host = req.headers.host;
    if (typeof host === 'string' && host !== '') {
      const proto = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
      allowed.add(`${proto}://${host.toLowerCase()}`);
    }
    return allowed.has(origin.toLowerCase());
  }
  return true;
}

/** The CSRF rule of the JSON API for cookie-authenticated state changes. */
export function passesCsrfCheck(req: IncomingMessage, publicUrl: string): boolean {
  return req.headers['x-requested-with'] === 'portcullis' && isSameOrigin(req, publicUrl);
}

/**
 * Whether a browser request comes from the gateway's own origin or one of `origins` (each
 * `scheme://host[:port]`). Fetch metadata `same-origin` / `none` (typed, bookmarked) passes;
 * otherwise the `Origin` header must be listed, and a cross-site request without one is
 * refused. A request with neither header comes from a non-browser client and passes.
 */
export function comesFrom(req: IncomingMessage, publicUrl: string, origins: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== '') {
    if (origins.has(origin.toLowerCase())) return true;
    // An empty Sec-Fetch-Site beside an Origin: only a listed origin passes (isSameOrigin would
    // read the empty value as absent and accept the request's own Host as its origin too).
    if (req.headers['sec-fetch-site'] === '') return false;
  }
  return isSameOrigin(req, publicUrl);
}

/** `https://Portal.example.org:443` → `https://portal.example.org`; undefined for what is not an http(s) URL. */
export function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Requests refused before authentication, whatever the route (SPEC 5, 6): too many header
 * fields (Node would otherwise truncate them silently), the methods TRACE, TRACK and CONNECT,
 * and a `_method` query parameter, which backends such as Express `method-override` read as
 * the request's method (a rule that allows POST would then let a DELETE through).
 */
import type { IncomingMessage } from 'node:http';
/** Why a request was refused before authentication: its error code. */
export type RequestRefusal = 'too_many_headers' | 'method_not_allowed' | 'method_override';

/** Never answered or forwarded: TRACE/TRACK echo requests (cookies included), CONNECT tunnels. */
export const REFUSED_METHODS: ReadonlySet<string> = new Set(['TRACE', 'TRACK', 'CONNECT']);

/** The error for a request refused before authentication, or undefined. `query`: the raw query, without `?`. */
export function refusedRequest(req: IncomingMessage, query: string, maxHeaderCount: number): RequestRefusal | undefined {
  if (req.rawHeaders.length > maxHeaderCount * 2) return 'too_many_headers';
  if (REFUSED_METHODS.has(req.method ?? '')) return 'method_not_allowed';
  if (query !== '' && holdsMethodOverride(query)) return 'method_override';
  return undefined;
}

/**
 * Whether an `application/x-www-form-urlencoded` text (a query or a form body) names a field
 * `_method` in any case and any escaping: `_METHOD`, `%5Fmethod`, `_method[]` (qs reads a
 * bracketed name as the field `_method` too), `_method.x`. Names that cannot be decoded are
 * judged by their raw text.
 */
export function holdsMethodOverride(text: string): boolean {
  // Cheap test first: every spelling holds "method" in some case, or an escape of its letters.
  if (!/m|%[46]d/i.test(text)) return false;
  let start = 0;
  while (start <= text.length) {
    // `;` separates fields too for some parsers (Rack 2, older Python parse_qs).
    let end = text.slice(start).search(/[&;]/);
    end = end === -1 ? text.length : start + end;
    const eq = text.indexOf('=', start);
    const rawName = text.slice(start, eq !== -1 && eq < end ? eq : end);
    if (fieldName(rawName) === '_method') return true;
    start = end + 1;
  }
  return false;
}

/**
 * Whether a multipart/form-data body names a part `_method` (Laravel, Symfony read it there):
 * every part's Content-Disposition name, unquoted, judged as fieldName judges a form field.
 * undefined when the body is not multipart as its Content-Type says (no boundary): cannot be judged.
 */
export function multipartHoldsMethodOverride(contentType: string, body: string): boolean | undefined {
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const marker = boundary?.[1] ?? boundary?.[2];
  if (marker === undefined || !body.includes(`--${marker}`)) return undefined;
  for (const part of body.split(`--${marker}`)) {
    const head = part.slice(0, Math.max(0, part.indexOf('\r\n\r\n')));
    for (const line of head.split(/\r\n/)) {
      if (!/^content-disposition\s*:/i.test(line)) continue;
      const name = /;\s*name\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(line);
      const raw = name?.[1] ?? name?.[2];
      if (raw !== undefined && fieldName(raw.replace(/\\(.)/g, '$1')) === '_method') return true;
    }
  }
  return false;
}

/** A form field's name as a parser would read it: `+` a space, escapes decoded, lower-cased, up to `[` or `.`. */
function fieldName(raw: string): string {
  let name = raw.replace(/\+/g, ' ');
  try {
    name = decodeURIComponent(name);
  } catch {
    name = name.replace(/%5f/gi, '_');
  }
  name = name.trim().toLowerCase();
  const cut = name.search(/[[.]/);
  return cut === -1 ? name : name.slice(0, cut);
}

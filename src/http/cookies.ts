/** Minimal, strict cookie handling for the session cookie (no dependency on the hot path). */

/**
 * Returns the value of `name` from a Cookie header. When the cookie appears more than once
 * (cookie tossing from a sibling domain or path) the result is `ambiguous`: fail closed.
 */
export function readCookie(header: string | undefined, name: string): { value: string | undefined; ambiguous: boolean } {
  if (!header) return { value: undefined, ambiguous: false };
  let value: string | undefined;
  let count = 0;
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const eq = header.indexOf('=', start);
    if (eq !== -1 && eq < end) {
      const key = header.slice(start, eq).trim();
      if (key === name) {
        count++;
        value = header.slice(eq + 1, end).trim();
        if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
      }
    }
    start = end + 1;
  }
  if (count > 1) return { value: undefined, ambiguous: true };
  return { value, ambiguous: false };
}

/**
 * The name of a cookie: of a Set-Cookie value (`sid=abc; Path=/`) or of one `name=value` pair
 * of a Cookie header, the text before the first `=` (all of it without one), trimmed.
 */
/**
 * The name a browser will send a Set-Cookie back under, lower-cased: a nameless cookie
 * (`=portcullis_session=x`, or `portcullis_session` without `=`) is sent as its bare value, which
 * a server then reads as the pair `portcullis_session=x`. Leading `=` and whitespace are
 * skipped and the name cut at `=`, so every spelling of a cookie name compares equal here.
 */
export function effectiveCookieName(setCookie: string): string {
  const semicolon = setCookie.indexOf(';');
  const pair = (semicolon === -1 ? setCookie : setCookie.slice(0, semicolon)).replace(/^[\s=]+/, '');
  return cookieName(pair).toLowerCase();
}

export function cookieName(setCookieOrPair: string): string {
  const eq = setCookieOrPair.indexOf('=');
  return (eq === -1 ? setCookieOrPair : setCookieOrPair.slice(0, eq)).trim();
}

/**
 * A Cookie header without the named cookies: the other pairs trimmed, empty ones dropped, joined
 * by '; '. One pass and one string, without splitting into arrays: it runs on every forwarded
 * request that carries the session cookie.
 */
export function removeCookies(header: string, names: readonly string[]): string {
  let out = '';
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    const part = header.slice(start, end).trim();
    if (part !== '' && !names.includes(cookieName(part))) out = out === '' ? part : `${out}; ${part}`;
    start = end + 1;
  }
  return out;
}

export interface CookieAttributes {
  maxAgeSeconds?: number;
  secure: boolean;
  httpOnly?: boolean;
  sameSite?: 'Lax' | 'Strict';
}

export function serialiseCookie(name: string, value: string, attributes: CookieAttributes): string {
  let out = `${name}=${value}; Path=/`;
  if (attributes.maxAgeSeconds !== undefined) out += `; Max-Age=${Math.max(0, Math.floor(attributes.maxAgeSeconds))}`;
  if (attributes.httpOnly !== false) out += '; HttpOnly';
  out += `; SameSite=${attributes.sameSite ?? 'Lax'}`;
  if (attributes.secure) out += '; Secure';
  return out;
}

export function clearCookie(name: string, secure: boolean): string {
  return `${name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

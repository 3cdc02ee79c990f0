/**
 * Request-target normalisation (SPEC 5). The result is both what the rules match and what
 * the backend receives. Anything ambiguous between the gateway and a backend is refused.
 *
 * Every byte has one spelling in a normalised path (`pathByte`): the characters RFC 3986 allows
 * literally in a segment (unreserved, sub-delims but `;`, `:` and `@`) stand literally, so their
 * escapes are decoded (`%3A` is `:`, as every decoding backend reads it); `%`, `?`, `#`, space,
 * `"` `<` `>` `[` `]` `^` `` ` `` `{` `|` `}` and non-ASCII bytes stand as upper-case escapes
 * (literal ones are encoded); `/` and `\` encoded, `;` and control characters are refused.
 * Escapes are decoded once (`%25` stays), before dot segments are removed, so `%2e%2e` is `..`
 * and no decoded byte is one the checks would have refused.
 */
export type NormaliseResult = { ok: true; path: string; query: string } | { ok: false; reason: string };

/** How a byte stands in a normalised path: literally, as an upper-case escape, or refused (the reason). */
type PathByte = 'literal' | 'encoded' | 'encoded_slash' | 'backslash' | 'path_parameter' | 'control_character';

const HEX = '0123456789ABCDEF';

/** pchar (RFC 3986 3.3) without `;` and percent-encoded: the bytes a normalised path holds literally. */
const LITERAL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,=:@";

const ASCII: PathByte[] = Array.from({ length: 0x80 }, (_, byte): PathByte => {
  if (byte < 0x20 || byte === 0x7f) return 'control_character';
  const char = String.fromCharCode(byte);
  if (LITERAL.includes(char)) return 'literal';
  if (char === '/') return 'encoded_slash';
  if (char === '\\') return 'backslash';
  if (char === ';') return 'path_parameter';
  return 'encoded';
});

export function pathByte(byte: number): PathByte {
  return byte < 0x80 ? (ASCII[byte] as PathByte) : 'encoded';
}

export function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** `%XX` in upper-case hex. */
export function escapeByte(byte: number): string {
  return `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
}

/** Fast path: a plain path with nothing to decode or remove. */
const SIMPLE = /^(?:\/[A-Za-z0-9.\-_~!$&'()*+,=:@]+)*\/?$/;

export function normaliseTarget(rawTarget: string, hostHeader: string | undefined): NormaliseResult {
  let target = rawTarget;
  if (target === '' || target.length > 8192) return { ok: false, reason: 'bad_target' };
  if (target[0] !== '/') {
    const match = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
    if (!match) return { ok: false, reason: 'bad_target' };
    const authority = (match[1] as string).toLowerCase();
    if (!hostHeader || authority === '' || authority !== hostHeader.trim().toLowerCase()) return { ok: false, reason: 'absolute_form_host' };
    target = match[2] === '' ? '/' : (match[2] as string);
    if (target[0] !== '/') return { ok: false, reason: 'bad_target' };
  }
  if (target.includes('#')) return { ok: false, reason: 'fragment' };
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  for (let i = 0; i < query.length; i++) {
    const c = query.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return { ok: false, reason: 'control_character' };
  }
  if (SIMPLE.test(rawPath) && !rawPath.includes('/.')) return { ok: true, path: rawPath, query };

  // Decode first, then remove dot segments: `%2e%2e` is a dot segment, and a decoded byte is never one refused.
  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(rawPath.charCodeAt(i + 1));
      const lo = hexValue(rawPath.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { ok: false, reason: 'bad_percent_encoding' };
      const byte = hi * 16 + lo;
      const form = pathByte(byte);
      if (form === 'literal') decoded += String.fromCharCode(byte);
      else if (form === 'encoded') decoded += escapeByte(byte);
      else return { ok: false, reason: form };
      i += 2;
      continue;
    }
    if (c === 0x2f) {
      decoded += '/';
      continue;
    }
    if (c > 0x7e) return { ok: false, reason: 'non_ascii' };
    const form = c === 0x20 ? 'control_character' : pathByte(c);
    if (form === 'literal') decoded += rawPath[i];
    else if (form === 'encoded') decoded += escapeByte(c);
    else return { ok: false, reason: form };
  }
  return { ok: true, path: removeDotSegments(decoded), query };
}

/** RFC 3986 5.2.4 on segments, with empty segments collapsed; `..` above the root stays at the root. */
export function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  const last = segments[segments.length - 1];
  const trailing = last === '' || last === '.' || last === '..';
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      out.pop();
      continue;
    }
    out.push(segment);
  }
  const joined = '/' + out.join('/');
  return trailing && out.length > 0 ? joined + '/' : joined;
}

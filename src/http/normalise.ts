/**
 * Request-target normalisation (SPEC 5). The result is both what the rules match and what
 * the backend receives. Anything ambiguous between the gateway and a backend is refused.
 */
export type NormaliseResult = { ok: true; path: string; query: string } | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function isUnreserved(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
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

  // Decode unreserved escapes, refuse the dangerous ones, upper-case the rest.
  let decoded = '';
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === 0x25) {
      const hi = hexValue(rawPath.charCodeAt(i + 1));
      const lo = hexValue(rawPath.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return { ok: false, reason: 'bad_percent_encoding' };
      const byte = hi * 16 + lo;
      if (byte === 0x2f) return { ok: false, reason: 'encoded_slash' };
      if (byte === 0x5c) return { ok: false, reason: 'backslash' };
      if (byte === 0x3b) return { ok: false, reason: 'path_parameter' };
      if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'control_character' };
      decoded += isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`;
      i += 2;
      continue;
    }
    if (c < 0x21 || c > 0x7e) return { ok: false, reason: c > 0x7e ? 'non_ascii' : 'control_character' };
    if (c === 0x5c) return { ok: false, reason: 'backslash' };
    if (c === 0x3b) return { ok: false, reason: 'path_parameter' };
    decoded += rawPath[i];
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

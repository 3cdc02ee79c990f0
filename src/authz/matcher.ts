/**
 * Path patterns of rules and grants: globs (`*` one segment, `**` any number of segments),
 * the placeholders `{self}`, `{project}`, `{org}` and `{attr.KEY}`, or `re:<regex>`. Compiled once; matching runs
 * on every request, so it works on pre-split segments without allocating regexes.
 *
 * Globs are compared with the normalised path (http/normalise.ts) as it is, so a glob must be
 * spelled as a normalised path is: one it could never match (`/café`, `/a%3Ab`, `/a%c3%a9`,
 * `/a/../b`) is refused with the spelling that works. `re:` patterns are the author's: they see
 * the same normalised path.
 */
import { escapeByte, hexValue, pathByte } from '../http/normalise.js';

export interface MatchContext {
  username?: string | undefined;
  projects: readonly string[];
  /** The caller's organisation ('' or absent: none; `{org}` then never matches). */
  organisation?: string | undefined;
  /** The caller's attributes (SPEC 16), for `{attr.KEY}` and `attributes:` conditions. */
  attributes?: Readonly<Record<string, readonly string[]>> | undefined;
  /** admin: placeholders match any single segment. */
  wildcardPlaceholders?: boolean;
}

export interface PathPattern {
  readonly source: string;
  matches(path: string, ctx: MatchContext): boolean;
}

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'star' }
  | { kind: 'globstar' }
  | { kind: 'partial'; re: RegExp }
  | { kind: 'self' }
  | { kind: 'project' }
  | { kind: 'org' }
  | { kind: 'attr'; key: string };

const PLACEHOLDER = /^\{(self|project|org|attr\.([a-z][a-z0-9_]{0,63}))\}$/;

function compileSegment(segment: string, pattern: string): Segment {
  if (segment === '**') return { kind: 'globstar' };
  if (segment === '*') return { kind: 'star' };
  const placeholder = PLACEHOLDER.exec(segment);
  if (placeholder) {
    const name = placeholder[1] as string;
    if (name === 'self' || name === 'project' || name === 'org') return { kind: name };
    return { kind: 'attr', key: placeholder[2] as string };
  }
  if (segment.includes('**')) throw new TypeError(`"${pattern}": ** must be a whole segment`);
  if (/[{}]/.test(segment)) throw new TypeError(`"${pattern}": only {self}, {project}, {org} and {attr.KEY} are placeholders, as whole segments`);
  if (segment.includes('*')) {
    const source = segment
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('[^/]*');
    return { kind: 'partial', re: new RegExp(`^${source}$`) };
  }
  return { kind: 'literal', text: segment };
}

function splitPath(path: string): string[] {
  // '/a/b/' → ['a', 'b']; '/' → []
  const out: string[] = [];
  let start = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path.charCodeAt(i) === 0x2f) {
      if (i > start) out.push(path.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

function matchSegments(segments: readonly Segment[], si: number, parts: readonly string[], pi: number, ctx: MatchContext): boolean {
  for (; si < segments.length; si++, pi++) {
    const segment = segments[si] as Segment;
    if (segment.kind === 'globstar') {
      if (si === segments.length - 1) return true;
      for (let k = pi; k <= parts.length; k++) if (matchSegments(segments, si + 1, parts, k, ctx)) return true;
      return false;
    }
    const part = parts[pi];
    if (part === undefined) return false;
    switch (segment.kind) {
      case 'literal':
        if (part !== segment.text) return false;
        break;
      case 'star':
        break;
      case 'partial':
        if (!segment.re.test(part)) return false;
        break;
      case 'self':
        if (!ctx.wildcardPlaceholders && (ctx.username === undefined || part.toLowerCase() !== ctx.username.toLowerCase())) return false;
        break;
      case 'project':
        if (!ctx.wildcardPlaceholders && !ctx.projects.includes(part)) return false;
        break;
      case 'org':
        if (!ctx.wildcardPlaceholders && (ctx.organisation === undefined || ctx.organisation === '' || part !== ctx.organisation)) return false;
        break;
      case 'attr':
        if (!ctx.wildcardPlaceholders && !(ctx.attributes !== undefined && Object.hasOwn(ctx.attributes, segment.key) && (ctx.attributes[segment.key] ?? []).includes(part))) return false;
        break;
    }
  }
  return pi === parts.length;
}

/**
 * `foldCase`: for routes with case_insensitive_paths, whose request paths arrive lower-cased
 * (escapes in upper-case hex): a glob is folded the same way, a `re:` pattern matches any case.
 */
export function compilePathPattern(pattern: string, foldCase = false): PathPattern {
  if (typeof pattern !== 'string' || pattern === '') throw new TypeError('a path pattern must be a non-empty string');
  if (foldCase && !pattern.startsWith('re:')) return compilePathPattern(foldPathCase(pattern));
  if (pattern.startsWith('re:')) {
    let re: RegExp;
    try {
      re = new RegExp(pattern.slice(3), foldCase ? 'i' : '');
    } catch (err) {
      throw new TypeError(`"${pattern}": invalid regular expression: ${(err as Error).message}`);
    }
    if (/\([^)]*[+*]\)[+*{]/.test(pattern)) throw new TypeError(`"${pattern}": nested quantifiers can backtrack catastrophically`);
    return { source: pattern, matches: (path) => re.test(path) };
  }
  if (!pattern.startsWith('/')) throw new TypeError(`"${pattern}": globs start with / (or use re:)`);
  const segments = splitPath(pattern).map((s) => compileSegment(s, pattern));
  const problem = spellingProblem(pattern);
  if (problem !== undefined) throw new TypeError(`"${pattern}" never matches a request: ${problem}`);
  const literalOnly = segments.every((s) => s.kind === 'literal');
  if (literalOnly) {
    const exact = '/' + segments.map((s) => (s as { text: string }).text).join('/');
    return { source: pattern, matches: (path) => path === exact || (path.endsWith('/') && path.slice(0, -1) === exact) };
  }
  return { source: pattern, matches: (path, ctx) => matchSegments(segments, 0, splitPath(path), 0, ctx) };
}

/** A path as case_insensitive_paths routes match it: lower case, escapes in upper-case hex. */
export function foldPathCase(path: string): string {
  return path.toLowerCase().replace(/%[0-9a-f]{2}/g, (hex) => hex.toUpperCase());
}

const REFUSED: Record<string, string> = {
  encoded_slash: 'requests with an encoded / are refused with 400',
  backslash: 'requests with \\ are refused with 400',
  path_parameter: 'requests with ; (path parameters) are refused with 400',
  control_character: 'requests with control characters are refused with 400',
};

/**
 * Why a glob can never match a normalised path, with the spelling that does when there is one;
 * undefined when it is spelled as requests are after normalisation.
 */
function spellingProblem(pattern: string): string | undefined {
  let canonical = '';
  const notes = new Set<string>();
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i] as string;
    const code = pattern.charCodeAt(i);
    if (char === '/' || char === '*' || char === '{' || char === '}') {
      canonical += char; // separators, globs, placeholders (compileSegment has judged their places)
      continue;
    }
    if (char === '?') return 'the query is not part of the matched path';
    if (char === '#') return 'a fragment never reaches the gateway';
    if (char === '%') {
      const hi = hexValue(pattern.charCodeAt(i + 1));
      const lo = hexValue(pattern.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) {
        canonical += '%25';
        notes.add('%25 for a literal %');
        continue;
      }
      const byte = hi * 16 + lo;
      const written = pattern.slice(i, i + 3);
      const form = pathByte(byte);
      i += 2;
      if (byte === 0x2a) return 'requests carry %2A as *, which a glob reads as any characters; use re: for a literal *';
      if (form === 'literal') {
        canonical += String.fromCharCode(byte);
        notes.add(`${String.fromCharCode(byte)} not ${written}, as requests are decoded`);
      } else if (form === 'encoded') {
        canonical += escapeByte(byte);
        if (written !== escapeByte(byte)) notes.add('escapes in upper-case hex');
      } else return REFUSED[form];
      continue;
    }
    if (code > 0x7e) {
      const point = pattern.codePointAt(i) as number;
      const text = String.fromCodePoint(point);
      for (const byte of Buffer.from(text, 'utf8')) canonical += escapeByte(byte);
      i += text.length - 1;
      notes.add('percent-encoded UTF-8, as requests carry it');
      continue;
    }
    const form = pathByte(code);
    if (form === 'literal') canonical += char;
    else if (form === 'encoded') {
      canonical += escapeByte(code);
      notes.add(`${escapeByte(code)} for ${char === ' ' ? 'a space' : char}`);
    } else return REFUSED[form];
  }
  if (canonical.split('/').some((s) => s === '.' || s === '..')) return 'dot segments are removed from requests before matching';
  if (canonical === pattern) return undefined;
  return `write ${canonical} (${[...notes].join('; ')})`;
}

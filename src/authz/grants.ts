/** Stored per-user grants (SPEC 8): `{paths, methods}` matched like rule paths. */
import { LRUCache } from 'lru-cache';
import type { Grant } from '../store/types.js';
import { describeValue } from '../users/validation.js';
import { compilePathPattern, type MatchContext, type PathPattern } from './matcher.js';

interface CompiledGrant {
  patterns: PathPattern[];
  methods: ReadonlySet<string>;
}

const compiled = new LRUCache<string, CompiledGrant[]>({ max: 10_000 });
/** The user cache hands out the same grants array while the record is unchanged. */
const byArray = new WeakMap<readonly Grant[], CompiledGrant[]>();

export function validateGrant(grant: unknown): { ok: true; grant: Grant } | { ok: false; fields: Record<string, string> } {
  if (!grant || typeof grant !== 'object' || Array.isArray(grant)) return { ok: false, fields: { grant: 'must be an object {paths, methods}' } };
  const record = grant as Record<string, unknown>;
  const fields: Record<string, string> = {};
  const unknown = Object.keys(record).filter((k) => k !== 'paths' && k !== 'methods');
  if (unknown.length > 0) fields.grant = `unknown keys: ${unknown.join(', ')}`;
  const paths = record.paths;
  if (!Array.isArray(paths) || paths.length === 0 || paths.length > 64) fields.paths = 'must be a non-empty array of path patterns (at most 64)';
  else {
    for (const path of paths) {
      try {
        if (typeof path !== 'string' || path.length > 512) throw new TypeError('must be a string of at most 512 characters');
        compilePathPattern(path);
      } catch (err) {
        fields.paths = `${describeValue(path)}: ${(err as Error).message}`;
        break;
      }
    }
  }
  const methods = record.methods ?? [];
  if (!Array.isArray(methods) || methods.some((m) => typeof m !== 'string' || !/^[A-Za-z]{1,16}$/.test(m))) fields.methods = 'must be an array of HTTP method names';
  if (Object.keys(fields).length > 0) return { ok: false, fields };
  return { ok: true, grant: { paths: paths as string[], methods: (methods as string[]).map((m) => m.toUpperCase()) } };
}

function compile(grants: readonly Grant[]): CompiledGrant[] {
  const cached = byArray.get(grants);
  if (cached) return cached;
  const key = JSON.stringify(grants);
  let result = compiled.get(key);
  if (!result) {
    result = grants.map((grant) => ({
      patterns: grant.paths.flatMap((p) => {
        try {
          return [compilePathPattern(p)];
        } catch {
          return []; // a stored grant that no longer compiles grants nothing
        }
      }),
      methods: new Set(grant.methods.map((m) => m.toUpperCase())),
    }));
    compiled.set(key, result);
  }
  byArray.set(grants, result);
  return result;
}

export function grantsAllow(grants: readonly Grant[], method: string, path: string, ctx: MatchContext): boolean {
  if (grants.length === 0) return false;
  for (const grant of compile(grants)) {
    if (grant.methods.size > 0 && !grant.methods.has(method) && !(method === 'HEAD' && grant.methods.has('GET'))) continue;
    for (const pattern of grant.patterns) if (pattern.matches(path, ctx)) return true;
  }
  return false;
}

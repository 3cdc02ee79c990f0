/**
 * Scoped API tokens (SPEC 8): a token's `scope` is a list of grants (`{paths, methods}`, matched
 * as stored grants are, src/authz/grants.ts), every one of which must allow the request, and
 * `read_only` allows GET and HEAD only. A scoped token reaches what both its user (the access
 * rules) and its scope allow: the scope only ever narrows, for admins too.
 */
import type { Grant } from '../store/types.js';
import { grantsAllow, validateGrant } from './grants.js';
import type { MatchContext } from './matcher.js';

/** What a token record carries of its scope (a TokenRecord is one). */
export interface TokenScope {
  readonly scope: readonly Grant[] | null;
  readonly read_only: boolean;
}

/** A scope list longer than this is refused: each generation of scoped tokens minting scoped tokens adds one. */
export const MAX_SCOPE_GRANTS = 16;

/** Each grant of a scope as a one-grant list, per scope array (a cached token keeps its array). */
const singles = new WeakMap<readonly Grant[], ReadonlyArray<readonly Grant[]>>();

function eachGrant(scope: readonly Grant[]): ReadonlyArray<readonly Grant[]> {
  let lists = singles.get(scope);
  if (lists === undefined) {
    lists = scope.map((grant) => [grant]);
    singles.set(scope, lists);
  }
  return lists;
}

/**
 * Whether the request is inside the token's scope. Placeholders match only the caller's own
 * values: `{self}` in a scope is the token's user even when that user is an admin.
 */
export function scopeAllows(token: TokenScope, method: string, path: string, ctx: MatchContext): boolean {
  if (token.read_only && method !== 'GET' && method !== 'HEAD') return false;
  if (token.scope === null) return true;
  // An empty list (only a damaged row could hold one) allows nothing.
  if (token.scope.length === 0) return false;
  for (const grant of eachGrant(token.scope)) if (!grantsAllow(grant, method, path, ctx)) return false;
  return true;
}

/**
 * The scope of a token minted by a request: the caller's token's scope (none for a session or
 * Basic caller) plus the requested one, all of which must allow; read_only if either is. Never
 * broader than the caller's token. Identical grants are kept once, so re-minting with the same
 * scope does not grow the list.
 */
export function narrowedScope(caller: TokenScope | undefined, requested: { scope: Grant | undefined; readOnly: boolean }): { scope: Grant[] | null; read_only: boolean } {
  const scope: Grant[] = [];
  const seen = new Set<string>();
  for (const grant of [...(caller?.scope ?? []), ...(requested.scope ? [requested.scope] : [])]) {
    const key = JSON.stringify([grant.paths, [...grant.methods].sort()]);
    if (seen.has(key)) continue;
    seen.add(key);
    scope.push(grant);
  }
  // A caller whose scope is a damaged empty list hands down "nothing", never "unscoped".
  const inherited = caller?.scope !== null && caller?.scope !== undefined;
  return { scope: scope.length > 0 || inherited ? scope : null, read_only: requested.readOnly || (caller?.read_only ?? false) };
}

/** Reads the `scope` field of a token request: one `{paths, methods}` grant, validated as grants are. */
export function readScope(value: unknown, fields: Record<string, string>): Grant | undefined {
  if (value === undefined) return undefined;
  const result = validateGrant(value);
  if (result.ok) return result.grant;
  fields.scope = Object.entries(result.fields)
    .map(([k, v]) => `${k}: ${v}`)
    .join('; ');
  return undefined;
}

/**
 * Rule conditions beyond hosts, paths and methods (SPEC 5): `query`, `headers`, `body`, `sql`,
 * `networks`, `attributes`. Compiled once per rule; each answers match, no match, or "cannot be
 * evaluated" (a repeated parameter with differing values, a body that is not a JSON object or a
 * form, ...), which is never an allow. A rule without conditions pays nothing for them.
 *
 * Values are compared after percent-decoding once, with a glob (`*`: any characters) or one
 * placeholder as the whole pattern: `{self}`, `{project}`, `{org}`, `{attr.KEY}`.
 */
import { BlockList, isIP } from 'node:net';
import type { RuleConfig } from '../config/schema.js';
import { parseCidr } from '../config/validate.js';
import type { MatchContext } from './matcher.js';
import { isReadOnlySql } from './sql-read-only.js';

export type ConditionOutcome = 'match' | 'no_match' | 'unevaluable' | 'needs_body';

/** What a body condition sees once the gateway has read the body (http/inspected-body.ts). */
export type BodyView = { kind: 'none' } | { kind: 'json'; fields: Readonly<Record<string, unknown>> } | { kind: 'form'; fields: ReadonlyMap<string, readonly string[]> } | { kind: 'unevaluable' };

/** The request as conditions see it; the parsed query is memoised on it. */
export interface ConditionInput {
  /** The raw query, without `?`. */
  query: string;
  /** The client's header list as received (name, value, name, value, ...). */
  rawHeaders: readonly string[];
  /** The client address (the socket peer, or behind trusted proxies the forwarded one). */
  client: string;
  /** undefined until the gateway has read the body (only when a body or sql condition asks). */
  body: BodyView | undefined;
  parsedQuery?: ReadonlyMap<string, readonly string[]>;
}

type ValuePattern = (value: string, ctx: MatchContext) => boolean;
type Condition = (input: ConditionInput, ctx: MatchContext) => ConditionOutcome;

const PLACEHOLDER = /^\{(self|project|org|attr\.([a-z][a-z0-9_]{0,63}))\}$/;

/** A value pattern: one whole-value placeholder, a glob with `*`, or literal text. */
export function compileValuePattern(pattern: string): ValuePattern {
  const placeholder = PLACEHOLDER.exec(pattern);
  if (placeholder) {
    const name = placeholder[1] as string;
    const key = placeholder[2];
    return (value, ctx) => {
      if (ctx.wildcardPlaceholders) return value !== '';
      if (name === 'self') return ctx.username !== undefined && value.toLowerCase() === ctx.username.toLowerCase();
      if (name === 'project') return ctx.projects.includes(value);
      if (name === 'org') return ctx.organisation !== undefined && ctx.organisation !== '' && value === ctx.organisation;
      return key !== undefined && ctx.attributes !== undefined && Object.hasOwn(ctx.attributes, key) && (ctx.attributes[key] ?? []).includes(value);
    };
  }
  if (/[{}]/.test(pattern)) throw new TypeError(`"${pattern}": a placeholder ({self}, {project}, {org}, {attr.KEY}) must be the whole value`);
  if (pattern.includes('*')) {
    const re = new RegExp(
      `^${pattern
        .split('*')
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
      's',
    );
    return (value) => re.test(value);
  }
  return (value) => value === pattern;
}

function compilePatterns(patterns: string | readonly string[]): ValuePattern[] {
  return (typeof patterns === 'string' ? [patterns] : patterns).map(compileValuePattern);
}

function anyMatches(patterns: readonly ValuePattern[], value: string, ctx: MatchContext): boolean {
  return patterns.some((pattern) => pattern(value, ctx));
}

/** Percent-decoding once (and `+` as a space, as form encoding reads it); undefined when malformed. */
function decodeOnce(text: string): string | undefined {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * `application/x-www-form-urlencoded` text (a query or a form body) as its parameters, names and
 * values decoded once; undefined when an escape is malformed (the whole text is then unreadable).
 */
export function parseUrlEncoded(text: string): Map<string, string[]> | undefined {
  const params = new Map<string, string[]>();
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decodeOnce(eq === -1 ? part : part.slice(0, eq));
    const value = decodeOnce(eq === -1 ? '' : part.slice(eq + 1));
    if (name === undefined || value === undefined) return undefined;
    const values = params.get(name);
    if (values) values.push(value);
    else params.set(name, [value]);
  }
  return params;
}

/** The query's parameters, parsed once per request. */
function queryOf(input: ConditionInput): ReadonlyMap<string, readonly string[]> | undefined {
  if (input.parsedQuery !== undefined) return input.parsedQuery;
  const params = parseUrlEncoded(input.query);
  if (params !== undefined) input.parsedQuery = params;
  return params;
}

/** One value of a repeated parameter or header: equal repeats are one, differing ones cannot be judged. */
function single(values: readonly string[]): string | 'differing' {
  const first = values[0] as string;
  return values.every((value) => value === first) ? first : 'differing';
}

function queryCondition(name: string, patterns: ValuePattern[]): Condition {
  return (input, ctx) => {
    const params = queryOf(input);
    if (params === undefined) return 'unevaluable';
    const values = params.get(name);
    if (values === undefined) return 'no_match';
    const value = single(values);
    if (value === 'differing') return 'unevaluable';
    return anyMatches(patterns, value, ctx) ? 'match' : 'no_match';
  };
}

function headerCondition(name: string, patterns: ValuePattern[]): Condition {
  const lower = name.toLowerCase();
  return (input, ctx) => {
    const values: string[] = [];
    const raw = input.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) values.push((raw[i + 1] as string).trim());
    if (values.length === 0) return 'no_match';
    const value = single(values);
    if (value === 'differing') return 'unevaluable';
    const decoded = decodeOnce(value.replace(/\+/g, '%2B'));
    if (decoded === undefined) return 'unevaluable';
    return anyMatches(patterns, decoded, ctx) ? 'match' : 'no_match';
  };
}

/** A JSON field's text: strings, numbers and booleans by their text; objects and null never match. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function bodyCondition(field: string, patterns: ValuePattern[]): Condition {
  return (input, ctx) => {
    const body = input.body;
    if (body === undefined) return 'needs_body';
    if (body.kind === 'unevaluable') return 'unevaluable';
    if (body.kind === 'none') return 'no_match';
    let values: readonly string[];
    if (body.kind === 'form') {
      const found = body.fields.get(field);
      if (found === undefined) return 'no_match';
      values = found;
    } else {
      if (!Object.hasOwn(body.fields, field)) return 'no_match';
      const value = body.fields[field];
      const items = Array.isArray(value) ? value : [value];
      const texts = items.map(scalarText);
      if (texts.length === 0 || texts.some((text) => text === undefined)) return 'no_match';
      values = texts as string[];
    }
    // A list (a JSON array, a repeated form field) matches when every element does.
    return values.length > 0 && values.every((value) => anyMatches(patterns, value, ctx)) ? 'match' : 'no_match';
  };
}

/** `sql: read_only`: the `sql` query parameter or form field (both present: cannot be judged). */
const readOnlySql: Condition = (input) => {
  const params = queryOf(input);
  if (params === undefined) return 'unevaluable';
  const fromQuery = params.get('sql');
  if (input.body === undefined) return 'needs_body';
  const fromForm = input.body.kind === 'form' ? input.body.fields.get('sql') : undefined;
  if (input.body.kind === 'unevaluable' || (fromQuery !== undefined && fromForm !== undefined)) return 'unevaluable';
  const values = fromQuery ?? fromForm;
  if (values === undefined) return 'no_match';
  const sql = single(values);
  if (sql === 'differing') return 'unevaluable';
  return isReadOnlySql(sql) ? 'match' : 'no_match';
};

function networksCondition(cidrs: readonly string[]): Condition {
  const list = new BlockList();
  for (const entry of cidrs) {
    const cidr = parseCidr(entry);
    if (cidr === undefined) throw new TypeError(`not an IP address or CIDR: ${entry}`);
    list.addSubnet(cidr.address, cidr.prefix, cidr.family);
  }
  return (input) => {
    const family = isIP(input.client);
    if (family === 0) return 'unevaluable';
    return list.check(input.client, family === 4 ? 'ipv4' : 'ipv6') ? 'match' : 'no_match';
  };
}

function attributeCondition(key: string, allowed: readonly string[]): Condition {
  return (_input, ctx) => {
    const held = ctx.attributes !== undefined && Object.hasOwn(ctx.attributes, key) ? (ctx.attributes[key] ?? []) : [];
    return held.some((value) => allowed.includes(value)) ? 'match' : 'no_match';
  };
}

/** The rule's conditions, cheapest first; undefined when it has none. Throws TypeError on a bad pattern or CIDR. */
export function compileConditions(rule: Pick<RuleConfig, 'query' | 'headers' | 'body' | 'sql' | 'networks' | 'attributes'>): Condition[] | undefined {
  const conditions: Condition[] = [];
  if (rule.networks) conditions.push(networksCondition(rule.networks));
  for (const [key, values] of Object.entries(rule.attributes ?? {})) conditions.push(attributeCondition(key, values));
  for (const [name, patterns] of Object.entries(rule.headers ?? {})) conditions.push(headerCondition(name, compilePatterns(patterns)));
  for (const [name, patterns] of Object.entries(rule.query ?? {})) conditions.push(queryCondition(name, compilePatterns(patterns)));
  if (rule.sql === 'read_only') conditions.push(readOnlySql);
  for (const [field, patterns] of Object.entries(rule.body ?? {})) conditions.push(bodyCondition(field, compilePatterns(patterns)));
  return conditions.length > 0 ? conditions : undefined;
}

/** All must hold: the first that does not decides (needs_body asks the caller to read the body and ask again). */
export function evaluateConditions(conditions: readonly Condition[], input: ConditionInput, ctx: MatchContext): ConditionOutcome {
  for (const condition of conditions) {
    const outcome = condition(input, ctx);
    if (outcome !== 'match') return outcome;
  }
  return 'match';
}

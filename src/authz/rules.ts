/**
 * The access-rule engine (SPEC 5): compiled once from config, evaluated on every request.
 * The first rule whose hosts, paths and methods all match decides; else the default policy.
 */
import type { AccessConfig } from '../config/schema.js';
import type { Grant } from '../store/types.js';
import { configuredHost, configuredHostProblem } from '../http/host.js';
import { compileConditions, compileValuePattern, evaluateConditions, type ConditionInput } from './conditions.js';
import { grantsAllow } from './grants.js';
import { compilePathPattern, type MatchContext, type PathPattern } from './matcher.js';

export interface AccessRequest {
  method: string;
  /** lower-case, without port */
  host: string;
  path: string;
  /** What rule conditions read (query, headers, client, body); needed only by rules that have them. */
  conditions?: ConditionInput | undefined;
  /** A route with case_insensitive_paths: `path` is folded (foldPathCase) and so are the rules' patterns. */
  foldCase?: boolean;
}

export type Caller =
  | {
      username: string;
      roles: readonly string[];
      projects: readonly string[];
      grants: readonly Grant[];
      organisation?: string | undefined;
      attributes?: Readonly<Record<string, readonly string[]>> | undefined;
    }
  | undefined;

/** A window (`per` ms) or, without `per`, a budget that never resets by itself. */
export type Quota = { requests: number; per?: number | undefined };

export type Decision =
  | { effect: 'allow'; rule: string; identityRequired: boolean; quota?: Quota }
  | { effect: 'unauthenticated'; rule: string; reason: string }
  | { effect: 'deny'; rule: string; reason: string }
  /** A rule's condition cannot be evaluated (never an allow): 400. */
  | { effect: 'unevaluable'; rule: string; reason: 'body_not_inspectable' | 'condition_not_evaluable' }
  /** A rule's body or sql condition needs the body: read it (bounded), then decide again. */
  | { effect: 'needs_body'; rule: string };

interface CompiledRule {
  name: string;
  hosts: Array<{ exact?: string; suffix?: string }>;
  paths: PathPattern[];
  /** The same patterns for case-insensitive routes. */
  foldedPaths: PathPattern[];
  methods: ReadonlySet<string> | undefined;
  policy: 'public' | 'authenticated' | 'grant' | 'deny';
  roles: readonly string[];
  quota: Quota | undefined;
  conditions: ReturnType<typeof compileConditions>;
  /** Whether a condition reads the body (body, or sql from a form). */
  readsBody: boolean;
}

export interface CompiledAccess {
  rules: CompiledRule[];
  defaultPolicy: 'deny' | 'authenticated';
}

/** `*.example.org` matches one label under example.org; anything else one host exactly. */
function compileHost(host: string): { exact?: string; suffix?: string } {
  const problem = configuredHostProblem(host, { wildcard: true });
  if (problem !== undefined) throw new TypeError(`hosts entry "${host}": ${problem}`);
  const trimmed = host.trim();
  return trimmed.startsWith('*.') ? { suffix: '.' + configuredHost(trimmed.slice(2)) } : { exact: configuredHost(trimmed) };
}

export function compileAccess(access: AccessConfig): CompiledAccess {
  return {
    defaultPolicy: access.default_policy,
    rules: access.rules.map((rule, i) => {
      const paths = rule.paths.map((p) => {
        try {
          return compilePathPattern(p);
        } catch (err) {
          throw new TypeError(`access.rules[${i}] (${rule.name}): ${(err as Error).message}`);
        }
      });
      const hosts = rule.hosts.map((h) => {
        try {
          return compileHost(h);
        } catch (err) {
          throw new TypeError(`access.rules[${i}] (${rule.name}): ${(err as Error).message}`);
        }
      });
      let conditions: ReturnType<typeof compileConditions>;
      try {
        conditions = compileConditions(rule);
      } catch (err) {
        throw new TypeError(`access.rules[${i}] (${rule.name}): ${(err as Error).message}`);
      }
      return {
        name: rule.name,
        hosts,
        paths,
        foldedPaths: rule.paths.map((p) => compilePathPattern(p, true)),
        methods: rule.methods.length > 0 ? new Set(rule.methods) : undefined,
        policy: rule.policy,
        roles: rule.roles,
        quota: rule.quota,
        conditions,
        readsBody: rule.body !== undefined || rule.sql !== undefined,
      };
    }),
  };
}

export function accessConfigProblems(access: AccessConfig): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  access.rules.forEach((rule, i) => {
    rule.hosts.forEach((h, j) => {
      const problem = configuredHostProblem(h, { wildcard: true });
      if (problem !== undefined) problems.push({ path: `access.rules[${i}].hosts[${j}]`, message: problem });
    });
    rule.paths.forEach((p, j) => {
      try {
        compilePathPattern(p);
      } catch (err) {
        problems.push({ path: `access.rules[${i}].paths[${j}]`, message: (err as Error).message });
      }
    });
    for (const kind of ['query', 'headers', 'body'] as const) {
      for (const [name, patterns] of Object.entries(rule[kind] ?? {})) {
        (typeof patterns === 'string' ? [patterns] : patterns).forEach((pattern) => {
          try {
            compileValuePattern(pattern);
          } catch (err) {
            problems.push({ path: `access.rules[${i}].${kind}.${name}`, message: (err as Error).message });
          }
        });
      }
    }
  });
  return problems;
}

/** Whether any rule reads request bodies (the gateway then inspects the bodies those rules see). */
export function readsBodies(access: CompiledAccess): boolean {
  return access.rules.some((rule) => rule.readsBody);
}

function hostMatches(rule: CompiledRule, host: string): boolean {
  if (rule.hosts.length === 0) return true;
  for (const h of rule.hosts) {
    if (h.exact !== undefined && h.exact === host) return true;
    if (h.suffix !== undefined && host.endsWith(h.suffix) && !host.slice(0, -h.suffix.length).includes('.') && host.length > h.suffix.length) return true;
  }
  return false;
}

function methodMatches(rule: CompiledRule, method: string): boolean {
  return !rule.methods || rule.methods.has(method) || (method === 'HEAD' && rule.methods.has('GET'));
}

const NO_PROJECTS: readonly string[] = [];

export function decide(access: CompiledAccess, request: AccessRequest, caller: Caller): Decision {
  // admin is the only role that satisfies every role list, grant and placeholder (SPEC 4):
  // support, like every other role, reaches exactly the rules that list it.
  const privileged = caller?.roles.includes('admin') === true;
  const ctx: MatchContext = {
    username: caller?.username,
    projects: caller?.projects ?? NO_PROJECTS,
    wildcardPlaceholders: privileged,
    organisation: caller?.organisation,
    attributes: caller?.attributes,
  };
  for (const rule of access.rules) {
    if (!methodMatches(rule, request.method) || !hostMatches(rule, request.host)) continue;
    let matched = false;
    for (const pattern of request.foldCase === true ? rule.foldedPaths : rule.paths) {
      if (pattern.matches(request.path, ctx)) {
        matched = true;
        break;
      }
    }
    if (!matched) continue;
    if (rule.conditions !== undefined) {
      const outcome = request.conditions === undefined ? 'unevaluable' : evaluateConditions(rule.conditions, request.conditions, ctx);
      if (outcome === 'needs_body') return { effect: 'needs_body', rule: rule.name };
      if (outcome === 'no_match') continue;
      if (outcome === 'unevaluable') {
        // Never an allow: a public rule is skipped, any other one refuses the request.
        if (rule.policy === 'public') continue;
        return { effect: 'unevaluable', rule: rule.name, reason: rule.readsBody && request.conditions?.body?.kind === 'unevaluable' ? 'body_not_inspectable' : 'condition_not_evaluable' };
      }
    }
    return apply(rule.name, rule.policy, rule.roles, rule.quota, request, caller, privileged, ctx);
  }
  if (access.defaultPolicy === 'deny') return { effect: 'deny', rule: 'default', reason: 'default_deny' };
  return apply('default', 'authenticated', [], undefined, request, caller, privileged, ctx);
}

function apply(
  name: string,
  policy: CompiledRule['policy'],
  roles: readonly string[],
  quota: CompiledRule['quota'],
  request: AccessRequest,
  caller: Caller,
  privileged: boolean,
  ctx: MatchContext,
): Decision {
  switch (policy) {
    case 'public':
      return { effect: 'allow', rule: name, identityRequired: false };
    case 'deny':
      return { effect: 'deny', rule: name, reason: 'rule_deny' };
    case 'authenticated':
      if (!caller) return { effect: 'unauthenticated', rule: name, reason: 'authentication_required' };
      if (roles.length > 0 && !privileged && !roles.some((r) => caller.roles.includes(r))) return { effect: 'deny', rule: name, reason: 'missing_role' };
      return quota ? { effect: 'allow', rule: name, identityRequired: true, quota } : { effect: 'allow', rule: name, identityRequired: true };
    case 'grant':
      if (!caller) return { effect: 'unauthenticated', rule: name, reason: 'authentication_required' };
      if (!privileged && !grantsAllow(caller.grants, request.method, request.path, ctx)) return { effect: 'deny', rule: name, reason: 'no_grant' };
      return quota ? { effect: 'allow', rule: name, identityRequired: true, quota } : { effect: 'allow', rule: name, identityRequired: true };
  }
}

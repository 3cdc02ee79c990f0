/**
 * Loads the configuration: YAML file → `${ENV}` substitution → `PORTCULLIS_<PATH>`
 * environment overrides → `--set` flags → `*_file` secrets → schema validation →
 * cross-field checks. Every problem is collected with its key path before failing.
 */
import type { ConfigProblem } from './problem.js';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';
import { crossFieldProblems } from './validate.js';

export type { ConfigProblem };

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function formatProblem(problem: ConfigProblem): string {
  return problem.path ? `${problem.path}: ${problem.message}` : problem.message;
}

export interface LoadOptions {
  /** Path of the YAML file; undefined means embedded defaults only. */
  file?: string | undefined;
  /** Raw YAML text instead of a file (tests). */
  text?: string;
  env?: NodeJS.ProcessEnv;
  /** `key.path=value` overrides from the command line; they win over env and file. */
  overrides?: string[];
  /** Extra cross-field checks from layers above config (rules, directory). */
  extraChecks?: Array<(config: Config) => ConfigProblem[]>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const problems: ConfigProblem[] = [];
  let raw: Json = {};
  const text = options.text ?? (options.file ? readConfigFile(options.file, problems) : undefined);
  if (text !== undefined) {
    try {
      raw = (parseYaml(text, { prettyErrors: true, uniqueKeys: true }) ?? {}) as Json;
    } catch (err) {
      problems.push({ path: '', message: `YAML: ${(err as Error).message.split('\n')[0]}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'the file must hold a mapping of keys' }]);
  }
  raw = substituteEnv(raw, env, '', problems);
  // Each layer wins over the ones below it, a secret's *_file twin included (dropOutrankedTwins).
  dropOutrankedTwins(raw as Record<string, Json>, applyEnvOverrides(raw as Record<string, Json>, env, problems));
  const flagged = new Set<string>();
  for (const override of options.overrides ?? []) {
    const set = applyOverride(raw as Record<string, Json>, override, problems);
    if (set) flagged.add(set);
  }
  dropOutrankedTwins(raw as Record<string, Json>, flagged);
  resolveSecretFiles(raw, configSchema as unknown as ZodLike, '', problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(zodProblems(parsed.error));
  const config = parsed.data;
  const more = crossFieldProblems(config);
  for (const check of options.extraChecks ?? []) more.push(...check(config));
  if (more.length > 0) throw new ConfigError(more);
  return config;
}

function readConfigFile(file: string, problems: ConfigProblem[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ path: '', message: `cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return undefined;
  }
}

export function zodProblems(error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    let message = issue.message;
    if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''}: ${issue.keys.join(', ')}`;
    return { path: formatPath(issue.path), message };
  });
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

export const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces `${NAME}` in every string; a missing variable is a problem, never "". */
function substituteEnv(value: Json, env: NodeJS.ProcessEnv, path: string, problems: ConfigProblem[]): Json {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_match, name: string) => {
      const found = env[name];
      if (found === undefined) {
        problems.push({ path, message: `environment variable ${name} is not set` });
        return '';
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, `${path}[${i}]`, problems));
  if (value && typeof value === 'object') {
    const out: Record<string, Json> = {};
    for (const [key, item] of Object.entries(value)) out[key] = substituteEnv(item, env, path ? `${path}.${key}` : key, problems);
    return out;
  }
  return value;
}

/**
 * The secrets of one object schema: every key `<key>` whose `<key>_file` twin the schema also
 * holds (ldap.bind_password, store.url, jwt_issuers[].secret, events.webhooks[].secret). The
 * schema is the one list: a twin added there is read, overridden and documented like the others.
 */
function secretTwins(objectSchema: ZodLike): string[] {
  const shape = unwrap(objectSchema)._zod.def.shape ?? {};
  return Object.keys(shape).filter((key) => !key.endsWith('_file') && `${key}_file` in shape);
}

/** Every `<key>_file` twin of a secret is read (trailing newline trimmed) into `<key>`. */
function resolveSecretFiles(value: Json, schema: ZodLike, path: string, problems: ConfigProblem[]): void {
  const def = unwrap(schema)._zod.def;
  if (Array.isArray(value)) {
    if (def.type === 'array' && def.element) {
      const element = def.element;
      value.forEach((item, i) => {
        resolveSecretFiles(item, element, `${path}[${i}]`, problems);
      });
    }
    return;
  }
  if (!value || typeof value !== 'object' || def.type !== 'object' || !def.shape) return;
  for (const key of secretTwins(schema)) {
    const fileKey = `${key}_file`;
    const file = value[fileKey];
    if (typeof file === 'string' && file !== '') {
      const keyPath = path ? `${path}.${fileKey}` : fileKey;
      if (typeof value[key] === 'string' && value[key] !== '') {
        problems.push({ path: keyPath, message: `set either ${key} or ${fileKey}, not both` });
        continue;
      }
      try {
        value[key] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        problems.push({ path: keyPath, message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
      }
    }
  }
  for (const [key, item] of Object.entries(value)) {
    const child = def.shape[key];
    if (child) resolveSecretFiles(item, child, path ? `${path}.${key}` : key, problems);
  }
}

/**
 * Precedence (flags > env > file) for secrets: a layer that sets a secret or its `*_file` twin
 * (non-empty) replaces whatever the layers below set for the pair, so the file's
 * `bind_password_file` gives way to PORTCULLIS_LDAP_BIND_PASSWORD instead of clashing with it.
 * A layer that sets both twins itself still gets "set either ... not both".
 */
function dropOutrankedTwins(raw: Record<string, Json>, setByLayer: ReadonlySet<string>): void {
  if (setByLayer.size === 0) return;
  for (const path of secretPaths()) {
    const parent = path.slice(0, -1);
    const key = path[path.length - 1] as string;
    const fileKey = `${key}_file`;
    const setsValue = setByLayer.has([...parent, key].join('.'));
    const setsFile = setByLayer.has([...parent, fileKey].join('.'));
    if (setsValue === setsFile) continue;
    const node = nodeAt(raw, parent);
    const mine = node?.[setsValue ? key : fileKey];
    // An empty value counts as unset here as it does for the twins themselves.
    if (node && typeof mine === 'string' && mine !== '') delete node[setsValue ? fileKey : key];
  }
}

/** Key paths of the secrets with a `*_file` twin that env and --set reach (not lists of objects). */
function secretPaths(): string[][] {
  const out: string[][] = [];
  const visit = (schema: ZodLike, path: string[]): void => {
    const def = unwrap(schema)._zod.def;
    if (def.type !== 'object' || !def.shape) return;
    for (const key of secretTwins(schema)) out.push([...path, key]);
    for (const [key, child] of Object.entries(def.shape)) visit(child, [...path, key]);
  };
  visit(configSchema as unknown as ZodLike, []);
  return out;
}

function nodeAt(raw: Record<string, Json>, path: string[]): Record<string, Json> | undefined {
  let node: Json = raw;
  for (const key of path) {
    if (!node || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = node[key] as Json;
  }
  return node && typeof node === 'object' && !Array.isArray(node) ? node : undefined;
}

interface ScalarPath {
  path: string[];
  kind: 'string' | 'number' | 'boolean' | 'list';
}

/** Every scalar key reachable through objects (not arrays of objects) in the schema. */
export function scalarPaths(): ScalarPath[] {
  const out: ScalarPath[] = [];
  walk(configSchema as unknown as ZodLike, [], out);
  return out;
}

/** The parts of a zod 4 schema the key walkers read. */
export interface ZodLike {
  _zod: { def: { type: string; innerType?: ZodLike; in?: ZodLike; out?: ZodLike; options?: ZodLike[]; shape?: Record<string, ZodLike>; element?: ZodLike } };
}

/** Looks through default/prefault/optional wrappers and transforms to the schema they hold. */
export function unwrap(schema: ZodLike): ZodLike {
  let current = schema;
  for (;;) {
    const def = current._zod.def;
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional') && def.innerType) current = def.innerType;
    // A preprocess (a transform piped into a schema) holds its schema on the out side.
    else if (def.type === 'pipe' && def.in?._zod.def.type === 'transform' && def.out) current = def.out;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

function walk(schema: ZodLike, path: string[], out: ScalarPath[]): void {
  const inner = unwrap(schema);
  const def = inner._zod.def;
  if (def.type === 'object' && def.shape) {
    for (const [key, child] of Object.entries(def.shape)) walk(child, [...path, key], out);
    return;
  }
  if (def.type === 'array') {
    const element = def.element ? unwrap(def.element)._zod.def.type : '';
    if (element === 'string' || element === 'enum' || element === 'pipe') out.push({ path, kind: 'list' });
    return;
  }
  if (def.type === 'union' && def.options) {
    // ldap.url (string | string[]) is set from env as a string (one URL).
    out.push({ path, kind: 'string' });
    return;
  }
  if (def.type === 'boolean') out.push({ path, kind: 'boolean' });
  else if (def.type === 'number') out.push({ path, kind: 'number' });
  else if (def.type === 'string' || def.type === 'enum') out.push({ path, kind: 'string' });
}

export function envName(path: string[]): string {
  return `PORTCULLIS_${path.join('_').toUpperCase()}`;
}

/** Applies `PORTCULLIS_<PATH>` variables; returns the key paths (dotted) they set. */
function applyEnvOverrides(raw: Record<string, Json>, env: NodeJS.ProcessEnv, problems: ConfigProblem[]): Set<string> {
  const set = new Set<string>();
  // *_file twins of secrets are reachable from env too (PORTCULLIS_LDAP_BIND_PASSWORD_FILE).
  for (const entry of scalarPaths()) {
    const name = envName(entry.path);
    const value = env[name];
    if (value === undefined) continue;
    setPath(raw, entry.path, coerce(value, entry.kind, name, problems));
    set.add(entry.path.join('.'));
  }
  return set;
}

/** Applies one `--set key.path=value`; returns the key path it set. */
function applyOverride(raw: Record<string, Json>, override: string, problems: ConfigProblem[]): string | undefined {
  const eq = override.indexOf('=');
  if (eq <= 0) {
    // Not echoed: a mistyped `--set ldap.bind_password:secret` would print the secret.
    problems.push({ path: '', message: '--set expects key.path=value (no "=" found; the argument is not repeated)' });
    return undefined;
  }
  const key = override.slice(0, eq);
  const entry = scalarPaths().find((p) => p.path.join('.') === key);
  if (!entry) {
    problems.push({ path: key, message: 'not a scalar configuration key' });
    return undefined;
  }
  setPath(raw, entry.path, coerce(override.slice(eq + 1), entry.kind, key, problems));
  return key;
}

function coerce(value: string, kind: ScalarPath['kind'], name: string, problems: ConfigProblem[]): Json {
  if (kind === 'boolean') {
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    problems.push({ path: name, message: 'must be true or false' });
    return value;
  }
  if (kind === 'number') {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) problems.push({ path: name, message: 'must be a number' });
    return n;
  }
  if (kind === 'list')
    return value
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  return value;
}

function setPath(raw: Record<string, Json>, path: string[], value: Json): void {
  let node: Record<string, Json> = raw;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (!next || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, Json>;
  }
  node[path[path.length - 1] as string] = value;
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The layout of STYLE.md: imports point one way. A layer may import from layers with a lower
 * rank, type-only imports included (they are a dependency too, even if they vanish at runtime),
 * and no module imports itself through others (no cycles). express and http-proxy are only
 * imported by proxy/, api/, ui/ and the app's endpoint module.
 */
const RANK: Record<string, number> = {
  cli: 7,
  app: 6,
  proxy: 5,
  api: 5,
  ui: 5,
  authz: 4,
  authn: 3,
  directory: 2,
  users: 2,
  store: 1,
  config: 0,
  errors: 0,
  events: 0,
  observability: 0,
  http: 0,
};

const SRC = new URL('../../../src', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const layerOf = (path: string): string => (relative(SRC, path).split('/')[0] as string).replace(/\.ts$/, '');

/** Each source file's relative imports and re-exports (type-only ones too), as resolved .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^(?:import|export)\s+(?:type\s+)?[^'"]*from\s+'([^']+)'/gm)].flatMap(([, spec]) => (spec?.startsWith('.') ? [resolve(dirname(file), spec).replace(/\.js$/, '.ts')] : []));
}

test('imports, type-only ones included, only point down the layers', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    for (const target of importsOf(file)) {
      const to = layerOf(target);
      if (to === from) continue;
      if ((RANK[to] ?? 99) > (RANK[from] ?? -1) || (RANK[to] === RANK[from] && RANK[to] !== 0)) violations.push(`${relative(SRC, file)} → ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});

test('no module imports itself through others (type-only imports counted)', () => {
  const graph = new Map(files(SRC).map((file) => [file, importsOf(file)]));
  const cycles: string[] = [];
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string): void => {
    if (done.has(file)) return;
    const at = path.indexOf(file);
    if (at !== -1) {
      cycles.push([...path.slice(at), file].map((f) => relative(SRC, f)).join(' → '));
      return;
    }
    path.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    path.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  assert.deepEqual(cycles, []);
});

test('only proxy/, api/, ui/ and the app endpoints import express or http-proxy', () => {
  const allowed = new Set(['proxy', 'api', 'ui']);
  const offenders = files(SRC).filter((file) => {
    const text = readFileSync(file, 'utf8');
    return /from '(express|http-proxy)'/.test(text) && !allowed.has(layerOf(file)) && !file.endsWith('app/auth-endpoints.ts');
  });
  assert.deepEqual(
    offenders.map((f) => relative(SRC, f)),
    [],
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

/**
 * The layout of STYLE.md: imports point one way. A layer may import (values) from layers with a
 * lower rank; type-only imports are free (they vanish at runtime). express and http-proxy are
 * only imported by proxy/, api/, ui/ and the app's endpoint module.
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

test('value imports only point down the layers', () => {
  const violations: string[] = [];
  for (const file of files(SRC)) {
    const from = layerOf(file);
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)) {
      const [, typeOnly, spec] = match;
      if (typeOnly || !spec?.startsWith('.')) continue;
      const to = layerOf(resolve(dirname(file), spec));
      if (to === from) continue;
      if ((RANK[to] ?? 99) > (RANK[from] ?? -1) || (RANK[to] === RANK[from] && RANK[to] !== 0)) violations.push(`${relative(SRC, file)} → ${to}`);
    }
  }
  assert.deepEqual(violations, []);
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

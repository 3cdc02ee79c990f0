import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configSchema } from '../../../src/config/schema.js';
import { unwrap, type ZodLike } from '../../../src/config/load.js';

type Node = ZodLike;

function keyPaths(node: Node, prefix: string, out: string[]): void {
  const def = unwrap(node)._zod.def;
  if (def.type === 'object' && def.shape) {
    for (const [key, child] of Object.entries(def.shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const inner = unwrap(child)._zod.def;
      const isObjectList = inner.type === 'array' && inner.element && unwrap(inner.element)._zod.def.type === 'object';
      const isObject = inner.type === 'object';
      if (!isObject && !isObjectList) out.push(path);
      if (isObject) keyPaths(child, path, out);
      if (isObjectList && inner.element) keyPaths(inner.element, `${path}[]`, out);
    }
  }
}

test('docs/configuration.md names every key of the config schema', () => {
  const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  const paths: string[] = [];
  keyPaths(configSchema as unknown as Node, '', paths);
  assert.ok(paths.length > 80, `walked ${paths.length} keys`);
  const missing = paths.filter((p) => !doc.includes(`\`${p}\``) && !(p.startsWith('access.rules[].quota.') && doc.includes('`access.rules[].quota`')));
  assert.deepEqual(missing, []);
});

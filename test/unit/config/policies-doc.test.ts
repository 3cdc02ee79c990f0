import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadGatewayConfig } from '../../../src/app/check.js';

test('every example in docs/policies.md is a config that config check accepts', () => {
  const text = readFileSync(new URL('../../../docs/policies.md', import.meta.url), 'utf8');
  const blocks = [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  assert.ok(blocks.length >= 3, 'one example per backend');
  for (const block of blocks) {
    const config = loadGatewayConfig({ text: block, env: {} });
    assert.ok(config.access.rules.length > 0);
  }
});

/** The problems `loadConfig` finds in a config file's text, as `path: message` lines ([] when valid). */
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../../src/config/load.js';

export function configProblems(text: string): string[] {
  try {
    loadConfig({ text, env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

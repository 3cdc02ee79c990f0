/**
 * An example's config (examples/<name>/portcullis.yaml) as the e2e tests run it: secret paths
 * under /run/secrets/ moved into a temp dir, the upstream pointed at the stand-in, the listener
 * on port 0 and the store left to the test helper. Nothing else of the file is changed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

export function exampleConfig(name: string, secrets: string, upstream: string): Record<string, unknown> {
  const text = readFileSync(new URL(`../../../examples/${name}/portcullis.yaml`, import.meta.url), 'utf8')
    .replaceAll('/run/secrets/', `${secrets}/`)
    .replace(/http:\/\/127\.0\.0\.1:\d+/g, upstream);
  const config = parse(text) as Record<string, Record<string, unknown>>;
  config.server = { ...config.server, listen: '127.0.0.1:0' };
  delete config.store;
  return config;
}

export function secretPath(dir: string, file: string): string {
  return join(dir, file);
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const text = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));

test('the Dockerfile is multi-stage on an even-numbered (LTS) Node image of 22 or newer', () => {
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 2);
  const final = froms[froms.length - 1] as string;
  const major = Number(/node:(\d+)/.exec(final)?.[1]);
  assert.ok(major >= 22 && major % 2 === 0, final);
});

test('the runtime runs as a non-root user with a health check on /.auth/healthz', () => {
  const users = lines.filter((l) => l.startsWith('USER '));
  const last = users[users.length - 1] ?? '';
  assert.ok(last !== '' && !/USER\s+(root|0)(:|$)/.test(last), last);
  assert.match(text, /HEALTHCHECK[\s\S]*\/\.auth\/healthz/);
  assert.match(text, /EXPOSE 8080/);
});

test('dependencies are installed from the lockfile and no secret is baked in', () => {
  assert.match(text, /npm ci/);
  assert.doesNotMatch(text, /npm install(?! -g)/);
  assert.doesNotMatch(text, /(PASSWORD|SECRET|TOKEN)\s*=/i);
});

test('optional dependencies stay in the image: on Node 24 SQLite opens through better-sqlite3-node22', () => {
  assert.doesNotMatch(text, /--omit[= ]optional|--no-optional/);
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { optionalDependencies?: Record<string, string> };
  assert.match(pkg.optionalDependencies?.['better-sqlite3-node22'] ?? '', /^npm:better-sqlite3@\^1[3-9]\./);
});

test('the entrypoint silences only the known http-proxy deprecation, no other warning', () => {
  const entrypoint = lines.find((l) => l.startsWith('ENTRYPOINT')) ?? '';
  assert.match(entrypoint, /"--disable-warning=DEP0060"/);
  assert.doesNotMatch(entrypoint, /--no-warnings|--no-deprecation/);
});

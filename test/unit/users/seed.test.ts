import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSeedFile, SeedFileError } from '../../../src/users/seed.js';

test('parses username[:role]=password lines with GreptimeDB role names', () => {
  const entries = parseSeedFile('# comment\n\nalice=Secret1!\nbob:ro=p=ss\ncarol:rw=x\ndave:wo=y\nerin:api=z\nfrank:readonly=q\n');
  assert.deepEqual(
    entries.map((e) => [e.username, e.role, e.password]),
    [
      ['alice', 'user', 'Secret1!'],
      ['bob', 'readonly', 'p=ss'],
      ['carol', 'user', 'x'],
      ['dave', 'writeonly', 'y'],
      ['erin', 'api', 'z'],
      ['frank', 'readonly', 'q'],
    ],
  );
});

test('names the line of a malformed entry and never its password', () => {
  for (const [text, line] of [
    ['alice=ok\nbroken-line-without-equals\n', 2],
    ['alice:superuser=hunter2secret\n', 1],
    ['1alice=hunter2secret\n', 1],
    ['alice=\n', 1],
    ['alice=a\nALICE=b\n', 2],
    // htpasswd habit, user:password, with a base64 password ending in "=": the password sits where a role would
    ['bob=ok\nalice:hunter2secretZm9vYmFy=\n', 2],
  ] as const) {
    assert.throws(
      () => parseSeedFile(text, 'seed.txt'),
      (err: unknown) => err instanceof SeedFileError && err.line === line && err.message.startsWith(`seed.txt:${line}:`) && !err.message.toLowerCase().includes('hunter2secret'),
      text,
    );
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GATEWAY_NODE_FLAGS, missingNodeFlags } from '../../../src/app/node-flags.js';

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

function run(file: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }));
    child.stdin?.end();
  });
}

test('npm start runs the gateway with its Node options, before the script', () => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  const start = pkg.scripts.start ?? '';
  assert.match(start, /\bnode\s.*dist\/cli\.js serve$/);
  const command = start.slice(start.indexOf('node '), start.indexOf('dist/cli.js'));
  for (const flag of GATEWAY_NODE_FLAGS) assert.ok(command.includes(` ${flag} `), `${flag} missing before dist/cli.js in: ${start}`);
});

test("the image runs every command with the gateway's Node options, and the Helm chart keeps its entrypoint", () => {
  const entrypoint = read('Dockerfile')
    .split('\n')
    .find((line) => line.startsWith('ENTRYPOINT'));
  const argv = JSON.parse((entrypoint ?? '').replace(/^ENTRYPOINT\s+/, '')) as string[];
  assert.equal(argv[0], 'node');
  const script = argv.indexOf('dist/cli.js');
  assert.ok(script > 0, String(entrypoint));
  for (const flag of GATEWAY_NODE_FLAGS) assert.ok(argv.slice(1, script).includes(flag), `${flag} missing in ${entrypoint}`);
  // A `command:` in the pod spec would replace the entrypoint and drop the options.
  assert.doesNotMatch(read('helm/portcullis/templates/deployment.yaml'), /^\s+command:/m);
});

test('this Node accepts the options (a V8 that dropped one would refuse to start the gateway)', async () => {
  const { code, stderr } = await run(process.execPath, [...GATEWAY_NODE_FLAGS, '-e', 'process.exit(0)']);
  assert.equal(code, 0, stderr);
});

test('missingNodeFlags names the options a process was started without', () => {
  assert.deepEqual(missingNodeFlags([]), [...GATEWAY_NODE_FLAGS]);
  assert.deepEqual(missingNodeFlags(['--inspect', ...GATEWAY_NODE_FLAGS]), []);
  assert.deepEqual(missingNodeFlags(GATEWAY_NODE_FLAGS.slice(1)), GATEWAY_NODE_FLAGS.slice(0, 1));
});

test('the portcullis command starts with a #! line every system can run (env -S is missing from BusyBox)', () => {
  for (const source of ['src/cli.ts', 'dist/cli.js']) assert.equal(read(source).split('\n')[0], '#!/usr/bin/env node', source);
});

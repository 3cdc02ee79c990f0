import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GATEWAY_NODE_FLAGS } from '../../../src/app/node-flags.js';

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

function run(file: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
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

test('the image runs every command with the gateway\'s Node options, and the Helm chart keeps its entrypoint', () => {
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

test('the portcullis command (the package\'s bin, started by its #! line) runs Node with the options', async () => {
  for (const source of ['src/cli.ts', 'dist/cli.js']) {
    const first = read(source).split('\n')[0] ?? '';
    // The kernel runs /usr/bin/env with the rest of the line as one argument, then the script; env -S splits it.
    const match = /^#!\/usr\/bin\/env (-S .+)$/.exec(first);
    assert.ok(match, `${source}: ${first}`);
    const interpreter = match[1] as string;
    assert.deepEqual(interpreter.split(' ').slice(1), ['node', ...GATEWAY_NODE_FLAGS], `${source}: ${first}`);
    // What that line starts: Node with exactly these options, before the script's own arguments.
    const seen = await run('/usr/bin/env', [interpreter, '-p', 'JSON.stringify(process.execArgv)']);
    assert.equal(seen.code, 0, seen.stderr);
    assert.deepEqual(JSON.parse(seen.stdout) as string[], [...GATEWAY_NODE_FLAGS, '-p', 'JSON.stringify(process.execArgv)']);
  }
  const cli = fileURLToPath(new URL('../../../dist/cli.js', import.meta.url));
  const version = await run('/usr/bin/env', [/^#!\/usr\/bin\/env (.+)$/.exec(read('dist/cli.js').split('\n')[0] ?? '')?.[1] ?? '', cli, '--version']);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, /^portcullis \d+\.\d+\.\d+/);
});

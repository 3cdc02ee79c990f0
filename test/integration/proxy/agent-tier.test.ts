/**
 * Node's agent deletes a pool's list of busy sockets whenever its last socket goes back to the
 * free pool, and `addRequest` adds it back for the next request. That store changed an inline
 * cache's state every few dozen requests under steady load, V8 restarted its count towards
 * optimising `addRequest` each time, and the function stayed in baseline code for the life of
 * the process. A route's agent adds the list before Node's code looks (keepPool in
 * timed-agent.ts); this checks that Node's `addRequest` then runs optimised, in a child process
 * with `--allow-natives-syntax`, against a plain agent under the same load for comparison.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./agent-tier.child.ts', import.meta.url));

function tierAfterLoad(kind: 'route' | 'plain'): Promise<{ optimised: boolean }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', '--allow-natives-syntax', child, kind], { timeout: 120_000 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout.trim().split('\n').pop() as string) as { optimised: boolean });
    });
  });
}

test("Node's addRequest runs optimised behind a route's agent", async () => {
  const [route, plain] = await Promise.all([tierAfterLoad('route'), tierAfterLoad('plain')]);
  assert.equal(route.optimised, true, `addRequest not optimised behind a route's agent (a plain agent: ${plain.optimised ? 'optimised' : 'not optimised'})`);
});

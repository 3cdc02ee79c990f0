/** The bench's own processes: started with their placement, each announcing itself as one JSON line. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { GATEWAY_NODE_FLAGS } from '../src/app/node-flags.js';
import { placed, type Placement } from './proc.js';

export interface Proc {
  child: ChildProcess;
  pid: number;
  /** The JSON line the process printed first (its port or url). */
  info: Record<string, unknown>;
}

/**
 * The Node options of every process the bench starts, bare http-proxy included: the gateway's
 * (src/app/node-flags.ts), so that the comparison is of code on the same runtime settings.
 * BENCH_NODE_FLAGS replaces them (`BENCH_NODE_FLAGS=` runs everything without).
 */
export const NODE_FLAGS: readonly string[] = process.env.BENCH_NODE_FLAGS === undefined ? GATEWAY_NODE_FLAGS : process.env.BENCH_NODE_FLAGS.split(' ').filter((flag) => flag !== '');

/** Runs `node args` (after NODE_FLAGS) on its placement's CPUs and waits for its first line. */
export async function startProcess(args: string[], env: NodeJS.ProcessEnv = process.env, placement: Placement = 'proxy'): Promise<Proc> {
  const [command, argv] = placed(placement, process.execPath, [...NODE_FLAGS, ...args]);
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once('line', (l) => resolve(l));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
  return { child, pid: child.pid as number, info: JSON.parse(line) as Record<string, unknown> };
}

/** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. */
export function stop(proc: Proc | undefined): Promise<void> {
  if (!proc || proc.child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    proc.child.once('exit', () => resolve());
    proc.child.kill('SIGTERM');
    setTimeout(() => proc.child.kill('SIGKILL'), 5000).unref();
  });
}

/** Process CPU time and RSS from /proc (Linux), for the gateway's own process only. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

/**
 * CPU pinning (BENCH_PIN, default on with two or more CPUs and `taskset`): the proxy under test
 * (bare http-proxy or the gateway) runs alone on the last CPU, wrk and the upstream on the
 * others, so neither proxy competes with the load generator for its core and both are measured
 * under the same conditions. Unpinned, the scheduler moves the three busy processes between
 * the two cores from run to run.
 */
/** The CPUs this process may run on (`Cpus_allowed_list`, e.g. `0-1` or `4,6-7`), in order. */
function allowedCpus(): number[] {
  const match = /^Cpus_allowed_list:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) return [];
  return (match[1] as string).split(',').flatMap((part) => {
    const [from, to] = part.split('-').map(Number) as [number, number | undefined];
    return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
  });
}

const CPUS = allowedCpus();
const PIN = process.env.BENCH_PIN !== '0' && CPUS.length >= 2 && existsSync('/usr/bin/taskset');
const PROXY_CPU = String(CPUS[CPUS.length - 1]);
const LOAD_CPUS = CPUS.slice(0, -1).join(',');

export type Placement = 'proxy' | 'load';

/** The command and arguments that run `command args` on its placement's CPUs (unchanged when not pinning). */
export function placed(placement: Placement, command: string, args: string[]): [string, string[]] {
  if (!PIN) return [command, args];
  // taskset execs the command: the child's pid is the command's own, as /proc readings need.
  return ['/usr/bin/taskset', ['-c', placement === 'proxy' ? PROXY_CPU : LOAD_CPUS, command, ...args]];
}

/** How processes are placed, for the report. */
export function placementNote(): string {
  return PIN ? `proxy under test pinned to CPU ${PROXY_CPU}, wrk and upstream to CPU ${LOAD_CPUS}` : 'no CPU pinning';
}

let ticks: number | undefined;
function clockTicks(): number {
  ticks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  return ticks;
}

/** User + system CPU seconds consumed so far by `pid`. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / clockTicks();
}

/**
 * Resident set size in bytes. Throws for a process that has exited: one not yet reaped still
 * has a /proc entry, without VmRSS, and a 0 read from it would pass for a reading.
 */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!match) throw new Error(`process ${pid} has no resident set: it has exited`);
  return Number(match[1]) * 1024;
}

/** RSS over a soak, from readings taken at a steady interval. */
export interface SoakMemory {
  first: number;
  last: number;
  min: number;
  max: number;
  /** The highest reading in the first third of the soak, and in the last third. */
  earlyPeak: number;
  latePeak: number;
  /** latePeak against earlyPeak, in per cent. */
  growth: number;
}

/**
 * Growth of RSS over a soak, judged by the peak of its first third against the peak of its last
 * third. V8 grows and shrinks its heap by tens of MiB while the traffic stays the same (seen on
 * Node 26: 132–172 MiB within one soak with a steady heap in use), so two single readings say
 * more about where in that cycle they fell than about growth; a leak still raises the late peak.
 */
export function soakMemory(readings: number[]): SoakMemory {
  if (readings.length === 0) throw new Error('no RSS readings');
  const third = Math.max(1, Math.floor(readings.length / 3));
  const earlyPeak = Math.max(...readings.slice(0, third));
  const latePeak = Math.max(...readings.slice(-third));
  return {
    first: readings[0] as number,
    last: readings[readings.length - 1] as number,
    min: Math.min(...readings),
    max: Math.max(...readings),
    earlyPeak,
    latePeak,
    growth: ((latePeak - earlyPeak) / earlyPeak) * 100,
  };
}

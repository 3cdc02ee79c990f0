/**
 * Two proxies measured at the same time: both pinned to the same CPU (see proc.ts) and loaded at
 * once by two wrk processes on the other CPUs, so that both share every condition of the machine
 * (what else runs, the clock, the caches); each one's CPU time from /proc is divided by its own
 * requests. On these shared 2-core machines a sequential ceiling moves by ±20 % between runs a
 * minute apart, and a ratio against it with it; a pair's ratio does not (two copies of bare
 * http-proxy read 0.97–1.03× of each other this way in the seven full runs of 2026-11-29: the
 * calibration row of `npm run bench`).
 */
import { cpuSeconds } from './proc.js';
import { runWrk } from './wrk.js';

/** One proxy of a pair: its process and the request that loads it. */
export interface PairSide {
  pid: number;
  url: string;
  headers: Record<string, string>;
  /** A wrk Lua script (a POST body), when the side is not loaded with GETs. */
  script?: string;
}

export interface Pair {
  /** Gateway CPU µs per request against the reference's. */
  cpuRatio: number;
  /** Gateway requests against the reference's, in the same seconds on the same CPU. */
  rpsRatio: number;
  referenceUs: number;
  gatewayUs: number;
}

/** Both sides loaded at once for `seconds` with `connections` each; CPU µs per request of each. */
export async function pair(reference: PairSide, gateway: PairSide, seconds: number, connections: number): Promise<Pair> {
  const before = [cpuSeconds(reference.pid), cpuSeconds(gateway.pid)] as const;
  const [r, g] = await Promise.all(
    [reference, gateway].map((side) => runWrk({ url: side.url, headers: side.headers, connections, durationSeconds: seconds, ...(side.script ? { script: side.script } : {}) })),
  );
  const after = [cpuSeconds(reference.pid), cpuSeconds(gateway.pid)] as const;
  if (!r || !g || r.non2xx + g.non2xx > 0 || r.requests === 0 || g.requests === 0) throw new Error('side by side: a run had non-2xx answers or none at all');
  const referenceUs = ((after[0] - before[0]) / r.requests) * 1e6;
  const gatewayUs = ((after[1] - before[1]) / g.requests) * 1e6;
  return { cpuRatio: gatewayUs / referenceUs, rpsRatio: g.requests / r.requests, referenceUs, gatewayUs };
}

/** A warm-up pair, then `count` timed pairs. */
export async function pairs(reference: PairSide, gateway: PairSide, options: { count: number; seconds: number; warmup: number; connections: number }): Promise<Pair[]> {
  await pair(reference, gateway, options.warmup, options.connections);
  const timed: Pair[] = [];
  for (let i = 0; i < options.count; i++) timed.push(await pair(reference, gateway, options.seconds, options.connections));
  return timed;
}

/** `min–max×` of a list of ratios. */
export function ratioRange(values: readonly number[]): string {
  return `${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)}×`;
}

/** Each pair as `reference → gateway (ratio)` in CPU µs per request. */
export function pairList(list: readonly Pair[]): string {
  return list.map((p) => `${p.referenceUs.toFixed(0)} → ${p.gatewayUs.toFixed(0)} (${p.cpuRatio.toFixed(2)})`).join('; ');
}

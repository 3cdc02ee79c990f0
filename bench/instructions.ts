/**
 * `npm run bench:instructions`: user-space instructions per request, counted by valgrind's
 * callgrind, for bare http-proxy and the gateway with each cached credential kind.
 *
 * CPU seconds from /proc (bench/run.ts) are what the targets are stated in, but on a shared
 * 2-core machine the ceiling itself moves by ±20 % between runs. Instruction counts do not
 * depend on what else the machine is doing, so they show whether a change made the hot path
 * cheaper. They leave out kernel time (sockets), which the gateway and bare http-proxy share.
 *
 * Each proxy runs under callgrind with instrumentation off; every gateway path is warmed up
 * first, then each scenario is warmed uninstrumented (JIT tiers), instrumented, warmed again, and
 * counted REPS times over N requests on 8 keep-alive connections. The least count is reported:
 * the others differ by whichever garbage collections or recompilations fell inside them.
 *
 * Env: BENCH_IR_REQUESTS (N, default 2000), BENCH_IR_REPS (5), BENCH_IR_ONLY (scenario names
 * containing any of these comma-separated words, e.g. `public,Basic`; bare always runs; the word
 * `imported` adds bare http-proxy in a process that has imported the gateway's modules),
 * BENCH_IR_KEEP (a directory that receives the callgrind dumps, for callgrind_annotate),
 * BENCH_IR_WARMUP (requests per gateway path before any count, default 3000), BENCH_IR_CACHE=1
 * (callgrind also simulates the caches and branch predictor: misses and mispredictions per request,
 * and an estimate of cycles from them, next to the instructions; several times slower).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { NODE_FLAGS } from './processes.js';

const REQUESTS = Number(process.env.BENCH_IR_REQUESTS ?? 2000);
const REPS = Number(process.env.BENCH_IR_REPS ?? 5);
const ONLY = (process.env.BENCH_IR_ONLY ?? '').split(',').filter((w) => w !== '');
const KEEP = process.env.BENCH_IR_KEEP;
/** Requests per gateway path before anything is counted. */
const WARMUP = Number(process.env.BENCH_IR_WARMUP ?? 3000);
/** Simulate caches and branches too: what instruction counts cannot show about cycles. */
const CACHE = process.env.BENCH_IR_CACHE === '1';
const CONNECTIONS = 8;
const PASSWORD = 'Alice-Bench-Passw0rd';

interface Proc {
  child: ChildProcess;
  pid: number;
  info: Record<string, unknown>;
  /** callgrind output prefix, or undefined when not under valgrind */
  prefix?: string;
}

/** `node args` (after the bench's NODE_FLAGS, see processes.ts), under callgrind when callgrindOut is given. */
function start(scriptArgs: string[], env: NodeJS.ProcessEnv, callgrindOut?: string): Promise<Proc> {
  const args = [...NODE_FLAGS, ...scriptArgs];
  const command = callgrindOut ? 'valgrind' : process.execPath;
  const simulate = CACHE ? ['--cache-sim=yes', '--branch-sim=yes'] : [];
  const argv = callgrindOut ? ['--tool=callgrind', '--instr-atstart=no', ...simulate, `--callgrind-out-file=${callgrindOut}.%p`, process.execPath, ...args] : args;
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve({ child, pid: child.pid as number, info: JSON.parse(line) as Record<string, unknown>, ...(callgrindOut ? { prefix: callgrindOut } : {}) }),
    );
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)));
  });
}

/** N GETs over CONNECTIONS keep-alive connections; rejects on any status but 200. */
function load(url: string, n: number, headers: Record<string, string>): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  let sent = 0;
  let done = 0;
  return new Promise<void>((resolve, reject) => {
    const next = (): void => {
      if (sent >= n) return;
      sent++;
      get(url, { agent, headers }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${url} → ${res.statusCode}`));
        res.resume();
        res.on('end', () => {
          done++;
          if (done === n) resolve();
          else next();
        });
      }).on('error', reject);
    };
    for (let i = 0; i < CONNECTIONS; i++) next();
  }).finally(() => agent.destroy());
}

function control(...args: string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore' });
}

/** Event totals (Ir, and with CACHE the misses and mispredictions) in the newest dump of this process. */
function lastDump(proc: Proc): Record<string, number> {
  const dir = join(proc.prefix as string, '..');
  const base = `${(proc.prefix as string).slice(dir.length + 1)}.${proc.pid}.`;
  const files = readdirSync(dir)
    .filter((f) => f.startsWith(base))
    .sort((a, b) => Number(a.slice(base.length)) - Number(b.slice(base.length)));
  const text = readFileSync(join(dir, files[files.length - 1] as string), 'utf8');
  const names = /^events: (.+)$/m.exec(text);
  const totals = /^summary: (.+)$/m.exec(text);
  if (!names || !totals) throw new Error('no events or summary in callgrind dump');
  const values = (totals[1] as string).trim().split(/\s+/).map(Number);
  return Object.fromEntries(
    (names[1] as string)
      .trim()
      .split(/\s+/)
      .map((name, i) => [name, values[i] ?? 0]),
  );
}

/** Per-request event counts of one counted block. */
type Block = Record<string, number>;

/** The simulated events of a block, summed by kind. */
function simulatedEvents(b: Block): { i1: number; d1: number; ll: number; mispredicted: number } {
  return {
    i1: b.I1mr ?? 0,
    d1: (b.D1mr ?? 0) + (b.D1mw ?? 0),
    ll: (b.ILmr ?? 0) + (b.DLmr ?? 0) + (b.DLmw ?? 0),
    mispredicted: (b.Bcm ?? 0) + (b.Bim ?? 0),
  };
}

/**
 * Estimated cycles per request from the simulated events, with the weights KCachegrind's cycle
 * estimate uses (a first-level miss 10, a last-level miss 100, a mispredicted branch 10): a model,
 * not a measurement, but one in which a larger footprint shows, unlike in instructions alone.
 */
function cycleEstimate(b: Block): number {
  const { i1, d1, ll, mispredicted } = simulatedEvents(b);
  return (b.Ir ?? 0) + 10 * (i1 + d1) + 100 * ll + 10 * mispredicted;
}

async function count(proc: Proc, url: string, headers: Record<string, string>): Promise<Block[]> {
  await load(url, 3000, headers);
  control('-i', 'on', String(proc.pid));
  await load(url, REQUESTS, headers);
  const blocks: Block[] = [];
  for (let i = 0; i < REPS; i++) {
    control('-z', String(proc.pid));
    await load(url, REQUESTS, headers);
    control('-d', String(proc.pid));
    blocks.push(Object.fromEntries(Object.entries(lastDump(proc)).map(([name, total]) => [name, total / REQUESTS])));
  }
  control('-i', 'off', String(proc.pid));
  return blocks.sort((a, b) => (a.Ir ?? 0) - (b.Ir ?? 0));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-ir-'));
  const procs: Proc[] = [];
  try {
    const upstream = await start(['bench/upstream.mjs'], process.env);
    procs.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`;
    const bare = await start(['bench/bare-proxy.mjs', upstreamUrl], process.env, join(dir, 'bare'));
    procs.push(bare);
    writeFileSync(join(dir, 'seed.txt'), `alice=${PASSWORD}\n`);
    writeFileSync(
      join(dir, 'portcullis.yaml'),
      stringify({
        server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1' },
        metrics: { listen: '127.0.0.1:0' }, // served, as by default: the gateway then also samples its process metrics
        store: { url: `sqlite:${join(dir, 'portcullis.db')}` },
        users: { seed_file: join(dir, 'seed.txt') },
        routes: [{ name: 'app', path_prefix: '/', upstream: upstreamUrl }],
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'public', paths: ['/public/**'], policy: 'public' },
            { name: 'app', paths: ['/**'], policy: 'authenticated' },
          ],
        },
      }),
    );
    const gateway = await start(['bench/gateway.mjs', join(dir, 'portcullis.yaml')], { ...process.env, PORTCULLIS_ADMIN_PASSWORD: 'Bench-Admin-Passw0rd' }, join(dir, 'gateway'));
    procs.push(gateway);
    const base = gateway.info.url as string;
    const post = (path: string): Promise<Response> =>
      fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
    const cookie = ((await post('/.auth/login')).headers.getSetCookie()[0] ?? '').split(';')[0] as string;
    const token = ((await (await post('/.auth/token')).json()) as { token: string }).token;
    const all: Array<[string, Proc, string, Record<string, string>]> = [
      ['bare http-proxy', bare, `http://127.0.0.1:${bare.info.port as number}/x`, {}],
      ['public rule, no credentials', gateway, `${base}/public/x`, {}],
      ['session cookie', gateway, `${base}/x`, { cookie }],
      ['Basic, local user (cached)', gateway, `${base}/x`, { authorization: 'Basic ' + Buffer.from(`alice:${PASSWORD}`).toString('base64') }],
      ['X-Authentication API token', gateway, `${base}/x`, { 'x-authentication': token }],
    ];
    // Opt-in: the same bare http-proxy in a process that has imported the gateway's modules, to
    // see whether a larger process runs unchanged code with more instructions or misses.
    if (ONLY.includes('imported')) {
      const loaded = await start(['bench/bare-proxy.mjs', upstreamUrl, '--load-gateway'], process.env, join(dir, 'loaded'));
      procs.push(loaded);
      all.splice(1, 0, ['bare http-proxy, gateway modules imported', loaded, `http://127.0.0.1:${loaded.info.port as number}/x`, {}]);
    }
    const scenarios = all.filter(([name, proc]) => proc === bare || ONLY.length === 0 || ONLY.some((word) => name.includes(word)));
    const lines = [
      `Instructions per request (callgrind, least of ${REPS} × ${REQUESTS} requests, ${CONNECTIONS} connections) — Node ${process.version}`,
      '',
      '| scenario | k instructions/req | vs bare | all counts (k) |',
      '|---|---:|---:|---|',
    ];
    const simulated = [
      '',
      `Simulated caches and branches (the block with the least instructions; per request; estimate = Ir + 10 × L1 misses + 100 × LL misses + 10 × mispredicted branches)`,
      '',
      '| scenario | I1 misses | D1 misses | LL misses | mispredicted branches | k estimated cycles | vs bare |',
      '|---|---:|---:|---:|---:|---:|---:|',
    ];
    // Every gateway path is warmed before any is counted: the first one counted would otherwise
    // still carry the recompilations the later ones trigger.
    for (const [, proc, url, headers] of all) if (proc === gateway) await load(url, WARMUP, headers);
    let bareIr = Number.NaN;
    let bareCycles = Number.NaN;
    for (const [name, proc, url, headers] of scenarios) {
      const blocks = await count(proc, url, headers);
      const least = blocks[0] as Block;
      const ir = least.Ir ?? 0;
      if (proc === bare) bareIr = ir;
      lines.push(`| ${name} | ${(ir / 1000).toFixed(1)} | ${(ir / bareIr).toFixed(2)}× | ${blocks.map((b) => ((b.Ir ?? 0) / 1000).toFixed(0)).join(' ')} |`);
      process.stderr.write(`${lines[lines.length - 1]}\n`);
      if (CACHE) {
        const cycles = cycleEstimate(least);
        if (proc === bare) bareCycles = cycles;
        const { i1, d1, ll, mispredicted } = simulatedEvents(least);
        simulated.push(`| ${name} | ${i1.toFixed(0)} | ${d1.toFixed(0)} | ${ll.toFixed(0)} | ${mispredicted.toFixed(0)} | ${(cycles / 1000).toFixed(1)} | ${(cycles / bareCycles).toFixed(2)}× |`);
        process.stderr.write(`${simulated[simulated.length - 1]}\n`);
      }
    }
    if (CACHE) lines.push(...simulated);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const proc of procs.reverse()) proc.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    if (KEEP !== undefined) for (const file of readdirSync(dir)) if (/^(bare|loaded|gateway)\./.test(file)) copyFileSync(join(dir, file), join(KEEP, file));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * `npm run bench:side-by-side`: the gateway and bare http-proxy measured at the same time.
 *
 * Measured in pairs (see pairs.ts), as `npm run bench` judges its targets, but against a small
 * configuration (one local user, the public rule, metrics served as by default), so its code sees
 * one credential kind per scenario, and with the options below to compare two checkouts.
 *
 * One gateway serves the scenarios in turn, as a gateway serves mixed traffic: the code of each
 * credential kind then runs with what the kinds before it left in V8's feedback. BENCH_SBS_FRESH=1
 * starts a fresh gateway (same configuration and store) for each scenario instead, to see one
 * kind's cost alone (in the runs of 2026-11-28 it read the same within the pairs' spread).
 *
 * BENCH_SBS_AGAINST=<another built checkout> measures that checkout's gateway in place of bare
 * http-proxy (each with its own store, the same configuration): two versions of the gateway,
 * side by side, which is how a change is judged on these machines. The table's "bare" column is
 * then the other checkout.
 *
 * Env: BENCH_SBS_PAIRS (timed pairs per scenario, default 3), BENCH_SBS_DURATION (s, 8),
 * BENCH_SBS_WARMUP (s, 3), BENCH_SBS_CONNECTIONS (per wrk, 16), BENCH_SBS_FRESH (0),
 * BENCH_SBS_AGAINST (unset), BENCH_SBS_GATEWAY_FLAGS (node flags for this checkout's gateway only).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { pairList, pairs, ratioRange, type PairSide } from './pairs.js';
import { placementNote, rssBytes } from './proc.js';
import { startProcess, stop, type Proc } from './processes.js';

const PAIRS = Number(process.env.BENCH_SBS_PAIRS ?? 3);
const DURATION = Number(process.env.BENCH_SBS_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_SBS_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_SBS_CONNECTIONS ?? 16);
const FRESH = process.env.BENCH_SBS_FRESH === '1';
const AGAINST = process.env.BENCH_SBS_AGAINST ? resolve(process.env.BENCH_SBS_AGAINST) : undefined;
/** Node or V8 flags for this checkout's gateway only (e.g. to try one against the same code without it). */
const GATEWAY_FLAGS = (process.env.BENCH_SBS_GATEWAY_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
const PASSWORD = 'Alice-Bench-Passw0rd';

/** A login of alice at one gateway: its own session cookie and API token. */
interface Login {
  cookie: string;
  token: string;
}

interface Scenario {
  name: string;
  path: string;
  headers(login: Login): Record<string, string>;
}

const SCENARIOS: readonly Scenario[] = [
  { name: 'public rule, no credentials', path: '/public/x', headers: () => ({}) },
  { name: 'session cookie', path: '/x', headers: (login) => ({ cookie: login.cookie }) },
  { name: 'Basic, local user (cached)', path: '/x', headers: () => ({ authorization: 'Basic ' + Buffer.from(`alice:${PASSWORD}`).toString('base64') }) },
  { name: 'X-Authentication API token', path: '/x', headers: (login) => ({ 'x-authentication': login.token }) },
];

/** One proxy of the comparison: its process, the request that measures it in each scenario, and how to start it afresh. */
interface Target {
  proc: Proc;
  /** The request that measures this proxy in a scenario; a gateway's is checked first (see checked). */
  side(scenario: Scenario): Promise<PairSide>;
  restart(): Promise<Target>;
}

/**
 * A gateway's scenario, after checking it: the identity must reach the upstream, and without
 * credentials the same URL must be refused (the public rule must let it through). A fast wrong
 * answer is not a result.
 */
async function checked(scenario: Scenario, side: PairSide): Promise<PairSide> {
  const seen = (await (await fetch(side.url, { headers: side.headers })).json()) as { user: string | null };
  const anonymous = await fetch(side.url);
  await anonymous.arrayBuffer();
  const isPublic = scenario.path.startsWith('/public/');
  if (isPublic ? anonymous.status !== 200 : seen.user !== 'alice' || anonymous.status !== 401)
    throw new Error(`${scenario.name} (pid ${side.pid}): upstream saw ${String(seen.user)}, no credentials → ${anonymous.status}`);
  return side;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sbs-'));
  const procs: Proc[] = [];
  try {
    const upstream = await startProcess(['bench/upstream.mjs'], process.env, 'load');
    procs.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`;
    const configFor = (name: string): string => {
      const sub = join(dir, name);
      mkdirSync(sub);
      writeFileSync(join(sub, 'seed.txt'), `alice=${PASSWORD}\n`);
      writeFileSync(
        join(sub, 'portcullis.yaml'),
        stringify({
          server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1' },
          metrics: { listen: '127.0.0.1:0' },
          store: { url: `sqlite:${join(sub, 'portcullis.db')}` },
          users: { seed_file: join(sub, 'seed.txt') },
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
      return join(sub, 'portcullis.yaml');
    };
    /** The gateway of the checkout at `root`, logged in once for its session cookie and token. */
    const startGateway = async (root: string, config: string, flags: string[]): Promise<Target> => {
      const proc = await startProcess([...flags, join(root, 'bench/gateway.mjs'), config], { ...process.env, PORTCULLIS_ADMIN_PASSWORD: 'Bench-Admin-Passw0rd' });
      procs.push(proc);
      const base = proc.info.url as string;
      const post = (path: string): Promise<Response> =>
        fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: PASSWORD }) });
      const cookie = ((await post('/.auth/login')).headers.getSetCookie()[0] ?? '').split(';')[0] as string;
      const token = ((await (await post('/.auth/token')).json()) as { token: string }).token;
      return {
        proc,
        side: (scenario) => checked(scenario, { pid: proc.pid, url: base + scenario.path, headers: scenario.headers({ cookie, token }) }),
        restart: async () => {
          await stop(proc);
          return startGateway(root, config, flags);
        },
      };
    };
    const startBare = async (): Promise<Target> => {
      const proc = await startProcess(['bench/bare-proxy.mjs', upstreamUrl]);
      procs.push(proc);
      const target: Target = { proc, side: async () => ({ pid: proc.pid, url: `http://127.0.0.1:${proc.info.port as number}/x`, headers: {} }), restart: async () => target };
      return target;
    };
    let gateway = await startGateway(process.cwd(), configFor('gateway'), GATEWAY_FLAGS);
    // Bare http-proxy stays up for every scenario, even with BENCH_SBS_FRESH.
    let other = AGAINST ? await startGateway(AGAINST, configFor('against'), []) : await startBare();
    const lines = [
      `Side by side — ${new Date().toISOString()} — Node ${process.version}, ${placementNote()}; both proxies on the same CPU, loaded at once, ${CONNECTIONS} connections each, ${PAIRS} × ${DURATION}s after ${WARMUP}s; ${FRESH ? 'a fresh gateway for each scenario' : 'one gateway for the scenarios in turn'}${AGAINST ? `; "bare" below is the gateway of ${AGAINST}` : ''}`,
      '',
      '| gateway path | CPU vs bare | req/s vs bare | pairs: CPU µs/req bare → gateway (ratio) |',
      '|---|---:|---:|---|',
    ];
    for (const [index, scenario] of SCENARIOS.entries()) {
      if (FRESH && index > 0) {
        gateway = await gateway.restart();
        other = await other.restart();
      }
      const gatewaySide = await gateway.side(scenario);
      const bareSide = await other.side(scenario);
      const timed = await pairs(bareSide, gatewaySide, { count: PAIRS, seconds: DURATION, warmup: WARMUP, connections: CONNECTIONS });
      lines.push(`| ${scenario.name} | ${ratioRange(timed.map((p) => p.cpuRatio))} | ${ratioRange(timed.map((p) => p.rpsRatio))} | ${pairList(timed)} |`);
      process.stderr.write(`${lines[lines.length - 1]}\n`);
    }
    const mib = (pid: number): string => `${(rssBytes(pid) / 2 ** 20).toFixed(0)} MiB`;
    lines.push('', `RSS at the end: ${AGAINST ? 'the other gateway' : 'bare http-proxy'} ${mib(other.proc.pid)}, the gateway ${mib(gateway.proc.pid)}`);
    const text = lines.join('\n') + '\n';
    process.stdout.write(text);
    mkdirSync('.bench', { recursive: true });
    writeFileSync(join('.bench', 'side-by-side.md'), text);
  } finally {
    for (const proc of procs.reverse()) await stop(proc);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

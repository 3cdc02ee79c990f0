/**
 * `npm run bench`: what authentication costs on the hot path, measured side by side in one run
 * against bare http-proxy on this machine. Every process of interest runs on its own so /proc
 * measures the gateway alone. Numbers are reported, never asserted.
 *
 * Env: BENCH_DURATION (s per scenario, default 10), BENCH_WARMUP (s, 3), BENCH_CONNECTIONS (32),
 * BENCH_SOAK_SECONDS (300), BENCH_SOAK_WARMUP (30: seconds of mixed traffic before the soak's first RSS reading), BENCH_USERS (100000), BENCH_USER_ROUNDS (3: alternating rounds of the 100-against-BENCH_USERS comparison), BENCH_PROFILE=1 (--cpu-prof the gateway),
 * BENCH_PACED_DELAY_MS (10: the pause per connection between requests in the paced comparison),
 * BENCH_PIN (1: the proxy under test on its own CPU, see proc.ts; 0 turns it off),
 * BENCH_PAIRS (3: timed side-by-side pairs per scenario), BENCH_PAIR_SECONDS (8: seconds per pair).
 *
 * Each scenario is measured twice: alone, between two runs of bare http-proxy (the first table:
 * its own req/s and latency), and side by side with bare http-proxy (pairs.ts: both loaded at once
 * on one CPU, half the connections each). The targets are judged by the side-by-side pairs: on
 * these shared machines the ceiling of the sequential runs moves by ±20 % within minutes, and the
 * pairs' calibration row (bare http-proxy against a second copy of itself) shows their own spread.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteBinding } from '../src/store/sqlite/binding.js';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { stringify } from 'yaml';
import { startSlapd } from '../test/helpers/slapd.js';
import { cpuSeconds, placementNote, rssBytes, soakMemory } from './proc.js';
import { startProcess, stop, type Proc } from './processes.js';
import { pairList, pairs, ratioRange, type Pair } from './pairs.js';
import { percentile } from './stats.js';
import { mixedScript, pacedScript, postJsonScript } from './lua.js';
import { runWrk, type WrkResult } from './wrk.js';

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SOAK = Number(process.env.BENCH_SOAK_SECONDS ?? 300);
/** Mixed traffic before the soak's first RSS reading: V8's heap is still growing to its working size after a few seconds. */
const SOAK_WARMUP = Number(process.env.BENCH_SOAK_WARMUP ?? 30);
const MANY_USERS = Number(process.env.BENCH_USERS ?? 100_000);
const USER_ROUNDS = Number(process.env.BENCH_USER_ROUNDS ?? 3);
const PROFILE = process.env.BENCH_PROFILE === '1';
const PACED_DELAY_MS = Number(process.env.BENCH_PACED_DELAY_MS ?? 10);
const PAIRS = Number(process.env.BENCH_PAIRS ?? 3);
const PAIR_SECONDS = Number(process.env.BENCH_PAIR_SECONDS ?? 8);
const ADMIN_PASSWORD = 'Bench-Admin-Passw0rd';
const HS_SECRET = 'bench-shared-secret-with-more-than-32-bytes';

interface Row {
  scenario: string;
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  cpuRatio: number;
  rpsRatio: number;
  note?: string;
}

async function measure(url: string, pid: number, headers: Record<string, string>, script?: string): Promise<{ wrk: WrkResult; cpuUs: number }> {
  await runWrk({ url, headers, connections: CONNECTIONS, durationSeconds: WARMUP, ...(script ? { script } : {}) });
  const before = cpuSeconds(pid);
  const wrk = await runWrk({ url, headers, connections: CONNECTIONS, durationSeconds: DURATION, ...(script ? { script } : {}) });
  const cpu = cpuSeconds(pid) - before;
  return { wrk, cpuUs: (cpu * 1e6) / Math.max(1, wrk.requests) };
}

type Timed = { wrk: WrkResult; cpuUs: number };

/** A scenario's side-by-side pairs against bare http-proxy. */
interface PairedRow {
  scenario: string;
  pairs: Pair[];
  cpuRatio: number;
  rpsRatio: number;
}

function pairedRow(scenario: string, list: Pair[]): PairedRow {
  return {
    scenario,
    pairs: list,
    cpuRatio: percentile(
      list.map((p) => p.cpuRatio),
      50,
    ),
    rpsRatio: percentile(
      list.map((p) => p.rpsRatio),
      50,
    ),
  };
}

interface Latency {
  rps: number;
  p50: number;
  p99: number;
}

/** One round of the users comparison on one gateway. */
interface UserRound {
  request: Latency;
  lookup: Latency;
  login: { p50: number; p99: number };
}

/** Each figure's median over the rounds (figure by figure: not one round's figures; the upper one of two middles). */
function medianRound(rounds: UserRound[]): UserRound {
  const of = (pick: (r: UserRound) => number): number => percentile(rounds.map(pick), 50);
  return {
    request: { rps: of((r) => r.request.rps), p50: of((r) => r.request.p50), p99: of((r) => r.request.p99) },
    lookup: { rps: of((r) => r.lookup.rps), p50: of((r) => r.lookup.p50), p99: of((r) => r.lookup.p99) },
    login: { p50: of((r) => r.login.p50), p99: of((r) => r.login.p99) },
  };
}

/**
 * Times the gateway at `url`, then bare http-proxy once more, and returns the row comparing the
 * gateway with the mean of that bare run and the one before it (the last of `bareRuns`).
 */
async function betweenBare(scenario: string, bareRuns: Timed[], bareUrl: string, barePid: number, url: string, gatewayPid: number, headers: Record<string, string>, script?: string): Promise<Row> {
  const result = await measure(url, gatewayPid, headers, script);
  const before = bareRuns[bareRuns.length - 1] as Timed;
  const after = await measure(bareUrl, barePid, {}, script);
  bareRuns.push(after);
  const reference = { rps: (before.wrk.requestsPerSecond + after.wrk.requestsPerSecond) / 2, cpuUs: (before.cpuUs + after.cpuUs) / 2 };
  return {
    scenario,
    rps: result.wrk.requestsPerSecond,
    p50: result.wrk.p50Ms,
    p99: result.wrk.p99Ms,
    cpuUs: result.cpuUs,
    cpuRatio: result.cpuUs / reference.cpuUs,
    rpsRatio: result.wrk.requestsPerSecond / reference.rps,
    ...(result.wrk.non2xx > 0 ? { note: `${result.wrk.non2xx} non-2xx` } : {}),
  };
}

/** The bare http-proxy row: the mean of all its runs, and how far they spread. */
function ceilingRow(scenario: string, runs: Timed[]): Row {
  const cpu = runs.map((r) => r.cpuUs);
  const rps = runs.map((r) => r.wrk.requestsPerSecond);
  return {
    scenario,
    rps: rps.reduce((sum, r) => sum + r, 0) / runs.length,
    p50: runs[0]?.wrk.p50Ms ?? 0,
    p99: runs[0]?.wrk.p99Ms ?? 0,
    cpuUs: cpu.reduce((sum, c) => sum + c, 0) / runs.length,
    cpuRatio: 1,
    rpsRatio: 1,
    note: `mean of ${runs.length} runs: ${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)} µs/req, ${Math.min(...rps).toFixed(0)}–${Math.max(...rps).toFixed(0)} req/s`,
  };
}

async function latencies(n: number, fn: () => Promise<void>): Promise<{ p50: number; p99: number }> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    samples.push(performance.now() - t);
  }
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  mkdirSync(join(process.cwd(), '.bench'), { recursive: true });
  const procs: Proc[] = [];
  const slapd = await startSlapd();
  const jwksKeys = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(jwksKeys.publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  const jwks = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  try {
    const upstream = await startProcess(['bench/upstream.mjs'], process.env, 'load');
    procs.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`;
    const bare = await startProcess(['bench/bare-proxy.mjs', upstreamUrl]);
    procs.push(bare);
    const bareUrl = `http://127.0.0.1:${bare.info.port as number}/x`;

    const seed = join(dir, 'passwords.txt');
    writeFileSync(seed, 'alice=Alice-Bench-Passw0rd\nbot:api=Bot-Bench-Passw0rd\n');
    const dbFile = join(dir, 'portcullis.db');
    const configFile = join(dir, 'portcullis.yaml');
    writeFileSync(
      configFile,
      stringify({
        server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1' },
        metrics: { listen: '127.0.0.1:0' }, // served, as by default: the gateway then also samples its process metrics
        store: { url: `sqlite:${dbFile}` },
        users: { seed_file: seed },
        ldap: {
          url: slapd.url,
          bind_dn: slapd.bindDn,
          bind_password: slapd.bindPassword,
          user_base: 'ou=people,dc=example,dc=org',
          group_base: 'ou=groups,dc=example,dc=org',
          role_mapping: { staff: ['user'] },
          cache_ttl: '10m',
        },
        jwt_issuers: [
          { name: 'portal', issuer: 'https://portal.bench', audience: 'portcullis', algorithms: ['RS256'], jwks_url: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json` },
          { name: 'lab', issuer: 'https://lab.bench', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET },
        ],
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
    const gatewayEnv = { ...process.env, PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD };
    const gatewayArgs = [...(PROFILE ? ['--cpu-prof', '--cpu-prof-dir', join(process.cwd(), '.bench')] : []), 'bench/gateway.mjs', configFile];
    let gateway = await startProcess(gatewayArgs, gatewayEnv);
    procs.push(gateway);
    const base = gateway.info.url as string;
    const post = async (path: string, body: unknown, headers: Record<string, string> = {}, at = base): Promise<Record<string, unknown>> => {
      const res = await fetch(at + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`${path} → ${res.status} ${await res.text()}`);
      return { ...((await res.json()) as Record<string, unknown>), __cookie: res.headers.getSetCookie()[0]?.split(';')[0] };
    };

    // Credentials of every kind.
    const session = (await post('/.auth/login', { username: 'alice', password: 'Alice-Bench-Passw0rd' })).__cookie as string;
    const apiToken = (await post('/.auth/token', { username: 'alice', password: 'Alice-Bench-Passw0rd' })).token as string;
    const botToken = (await post('/.auth/token', { username: 'bot', password: 'Bot-Bench-Passw0rd' })).token as string;
    const gatewayJwt = (await post('/.auth/api/tokens', { name: 'bench', kind: 'jwt', expires_in: '1d' }, { 'x-authentication': botToken })).token as string;
    const now = Math.floor(Date.now() / 1000);
    const rsJwt = await new SignJWT({ roles: ['user'] })
      .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
      .setIssuer('https://portal.bench')
      .setAudience('portcullis')
      .setSubject('extrs')
      .setIssuedAt(now)
      .setExpirationTime(now + 3000)
      .sign(jwksKeys.privateKey);
    const hsJwt = await new SignJWT({ roles: ['user'] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://lab.bench')
      .setAudience('portcullis')
      .setSubject('exths')
      .setIssuedAt(now)
      .setExpirationTime(now + 3000)
      .sign(new TextEncoder().encode(HS_SECRET));
    const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

    const scenarios: Array<{ name: string; path: string; headers: Record<string, string>; user: string | null }> = [
      { name: 'session cookie', path: '/x', headers: { cookie: session }, user: 'alice' },
      { name: 'Basic, local user (cached)', path: '/x', headers: { authorization: basic('alice', 'Alice-Bench-Passw0rd') }, user: 'alice' },
      { name: 'Basic, LDAP user (cached)', path: '/x', headers: { authorization: basic('bob', 'Bob-Ldap-1') }, user: 'bob' },
      { name: 'X-Authentication API token', path: '/x', headers: { 'x-authentication': apiToken }, user: 'alice' },
      { name: 'Bearer external JWT (RS256, JWKS)', path: '/x', headers: { authorization: `Bearer ${rsJwt}` }, user: 'extrs' },
      { name: 'Bearer external JWT (HS256)', path: '/x', headers: { authorization: `Bearer ${hsJwt}` }, user: 'exths' },
      { name: 'Bearer gateway JWT', path: '/x', headers: { authorization: `Bearer ${gatewayJwt}` }, user: 'bot' },
      { name: 'public rule, no credentials', path: '/public/badge', headers: {}, user: null },
    ];

    // Each scenario is timed between two runs of bare http-proxy and compared with their mean:
    // on a shared 2-core machine the ceiling drifts during a run, and a neighbour is a fairer
    // reference than one figure for the whole run.
    const bareRuns: Timed[] = [await measure(bareUrl, bare.pid, {})];
    const measured: Row[] = [];
    for (const scenario of scenarios) {
      // A fast wrong answer is not a result: the identity must arrive, and no credentials must be refused.
      const probe = await fetch(base + scenario.path, { headers: scenario.headers });
      const seen = (await probe.json().catch(() => ({}))) as { user?: string | null };
      const refused = scenario.user === null ? 0 : (await fetch(base + scenario.path)).status;
      if (probe.status !== 200 || (seen.user ?? null) !== scenario.user || (scenario.user !== null && ![401, 302, 403].includes(refused))) {
        measured.push({
          scenario: scenario.name,
          rps: 0,
          p50: 0,
          p99: 0,
          cpuUs: 0,
          cpuRatio: Number.NaN,
          rpsRatio: Number.NaN,
          note: `check failed: ${probe.status}, user ${String(seen.user)}, no-credential status ${refused}`,
        });
        continue;
      }
      measured.push(await betweenBare(scenario.name, bareRuns, bareUrl, bare.pid, base + scenario.path, gateway.pid, scenario.headers));
    }
    const rows: Row[] = [ceilingRow('bare http-proxy (ceiling)', bareRuns), ...measured];

    // The same scenarios side by side with bare http-proxy (pairs.ts), after a calibration pair of
    // bare http-proxy against a second copy of itself: how far this method reads from 1.00× here.
    const bareSide = { pid: bare.pid, url: bareUrl, headers: {} };
    const pairOptions = { count: PAIRS, seconds: PAIR_SECONDS, warmup: WARMUP, connections: Math.max(1, Math.round(CONNECTIONS / 2)) };
    const bareCopy = await startProcess(['bench/bare-proxy.mjs', upstreamUrl]);
    procs.push(bareCopy);
    const bareCopyUrl = `http://127.0.0.1:${bareCopy.info.port as number}/x`;
    // Alone first, as the first bare http-proxy was: a fresh copy's first seconds run cold code.
    await measure(bareCopyUrl, bareCopy.pid, {});
    const calibration = pairedRow('bare http-proxy against a second copy of itself', await pairs(bareSide, { pid: bareCopy.pid, url: bareCopyUrl, headers: {} }, pairOptions));
    await stop(bareCopy);
    const paired: PairedRow[] = [];
    for (const scenario of scenarios) {
      if (!Number.isFinite(measured.find((m) => m.scenario === scenario.name)?.cpuRatio)) continue;
      paired.push(pairedRow(scenario.name, await pairs(bareSide, { pid: gateway.pid, url: base + scenario.path, headers: scenario.headers }, pairOptions)));
    }

    // The same comparison at one request rate for both (paced load), for the main credential kinds.
    const paced = pacedScript(dir, PACED_DELAY_MS);
    const pacedBare: Timed[] = [await measure(bareUrl, bare.pid, {}, paced)];
    const pacedMeasured: Row[] = [];
    for (const scenario of scenarios.filter((s) => ['session cookie', 'Basic, local user (cached)', 'X-Authentication API token', 'public rule, no credentials'].includes(s.name))) {
      if (!Number.isFinite(measured.find((m) => m.scenario === scenario.name)?.cpuRatio)) continue;
      pacedMeasured.push(await betweenBare(scenario.name, pacedBare, bareUrl, bare.pid, base + scenario.path, gateway.pid, scenario.headers, paced));
    }
    const pacedRows: Row[] = [ceilingRow('bare http-proxy', pacedBare), ...pacedMeasured];

    // Login throughput: JSON logins (never cached) with the real KDF, and LDAP binds.
    const loginRate = async (name: string, body: unknown): Promise<{ name: string; rps: number; p50: number; p99: number }> => {
      const script = postJsonScript(dir, name.replace(/\W+/g, '-'), body);
      const r = await runWrk({ url: base + '/.auth/login', connections: 4, durationSeconds: DURATION, script });
      return { name, rps: r.requestsPerSecond * (r.non2xx === 0 ? 1 : (r.requests - r.non2xx) / r.requests), p50: r.p50Ms, p99: r.p99Ms };
    };
    const logins = [
      await loginRate('form/JSON login, local user (scrypt N=2^15)', { username: 'alice', password: 'Alice-Bench-Passw0rd' }),
      await loginRate('JSON login, LDAP user (cold: a bind per login)', { username: 'bob', password: 'Bob-Ldap-1' }),
    ];
    const ldapCached = rows.find((r) => r.scenario.startsWith('Basic, LDAP'));

    // Soak: mixed traffic after a warm-up, RSS through it.
    const mixed = mixedScript(
      dir,
      scenarios.filter((s) => s.user !== null).map((s) => s.headers),
    );
    await runWrk({ url: base + '/x', connections: CONNECTIONS, durationSeconds: SOAK_WARMUP, script: mixed });
    // RSS every second of the soak (see soakMemory: single readings fall anywhere in V8's heap cycle).
    const gatewayPid = gateway.pid;
    const readings = [rssBytes(gatewayPid)];
    // A gateway that dies during the soak fails the bench (after wrk), not the timer's callback.
    let sampleError: unknown;
    const sampler = setInterval(() => {
      try {
        readings.push(rssBytes(gatewayPid));
      } catch (err) {
        sampleError ??= err;
      }
    }, 1000);
    const soak = await runWrk({ url: base + '/x', connections: CONNECTIONS, durationSeconds: SOAK, script: mixed }).finally(() => clearInterval(sampler));
    if (sampleError !== undefined) throw sampleError;
    readings.push(rssBytes(gatewayPid));
    const soakRss = soakMemory(readings);

    // 100 users against MANY_USERS users, two gateways side by side (a copy of the store with 100
    // users, and the store with MANY_USERS), measured in alternating rounds and compared by the
    // median of the rounds: one run of each, minutes apart, mostly measured the machine's drift
    // (this comparison read 0.51×, 0.98×, 1.20× and 1.26× in four runs of an unchanged cached
    // path). Per round: Basic (cached) per request, a user lookup through the admin API (a store
    // read every time) and fresh JSON logins.
    const addUsers = (from: number, to: number, copyTo?: string): number => {
      const db = new (sqliteBinding().Database)(dbFile);
      const insert = db.prepare(
        "INSERT OR IGNORE INTO users (username_key, username, name, email, roles, source, password_hash, created_at, updated_at) VALUES (?, ?, ?, '', '[\"user\"]', 'local', NULL, ?, ?)",
      );
      db.transaction(() => {
        for (let i = from; i < to; i++) insert.run(`u${i}`, `u${i}`, `User ${i}`, Date.now(), Date.now());
      })();
      const count = (db.prepare('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n;
      if (copyTo !== undefined) db.prepare('VACUUM INTO ?').run(copyTo);
      db.close();
      return count;
    };
    await stop(gateway);
    const fewDb = join(dir, 'few.db');
    const fewConfig = join(dir, 'few.yaml');
    writeFileSync(fewConfig, readFileSync(configFile, 'utf8').replace(`sqlite:${dbFile}`, `sqlite:${fewDb}`));
    const fewCount = addUsers(0, 98, fewDb);
    const manyCount = addUsers(98, MANY_USERS);
    const fewGateway = await startProcess([...gatewayArgs.slice(0, -1), fewConfig], gatewayEnv);
    procs.push(fewGateway);
    gateway = await startProcess(gatewayArgs, gatewayEnv);
    procs.push(gateway);
    const adminToken = (await post('/.auth/token', { username: 'admin', password: ADMIN_PASSWORD }, {}, fewGateway.info.url as string)).token as string;
    const manyAdminToken = (await post('/.auth/token', { username: 'admin', password: ADMIN_PASSWORD }, {}, gateway.info.url as string)).token as string;
    const fewSide = { url: fewGateway.info.url as string, admin: adminToken, rounds: [] as UserRound[] };
    const manySide = { url: gateway.info.url as string, admin: manyAdminToken, rounds: [] as UserRound[] };
    const userSides = [fewSide, manySide];
    for (const side of userSides) await userRound(side.url, side.admin, true);
    for (let round = 0; round < USER_ROUNDS; round++) {
      // Alternate which side goes first, so that neither always follows the other.
      for (const side of round % 2 === 0 ? userSides : [...userSides].reverse()) side.rounds.push(await userRound(side.url, side.admin, false));
    }
    const few = medianRound(fewSide.rounds);
    const many = medianRound(manySide.rounds);

    async function userRound(url: string, admin: string, warmUp: boolean): Promise<UserRound> {
      const seconds = warmUp ? WARMUP : DURATION;
      const headers = { authorization: basic('alice', 'Alice-Bench-Passw0rd') };
      // u50 exists in both stores; the admin API reads it from the store on every request.
      const lookup = await fetch(url + '/.auth/api/users/u50', { headers: { 'x-authentication': admin } });
      if (lookup.status !== 200) throw new Error(`user lookup → ${lookup.status}`);
      const request = await runWrk({ url: url + '/x', headers, connections: CONNECTIONS, durationSeconds: seconds });
      const lookups = await runWrk({ url: url + '/.auth/api/users/u50', headers: { 'x-authentication': admin }, connections: 4, durationSeconds: Math.max(2, Math.round(seconds / 2)) });
      if (request.non2xx > 0 || lookups.non2xx > 0) throw new Error(`users comparison: ${request.non2xx} + ${lookups.non2xx} non-2xx answers`);
      const login = await latencies(warmUp ? 3 : 20, async () => {
        const res = await fetch(url + '/.auth/login', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: 'alice', password: 'Alice-Bench-Passw0rd' }),
        });
        if (res.status !== 200) throw new Error(`login → ${res.status}`);
        await res.arrayBuffer();
      });
      return { request: { rps: request.requestsPerSecond, p50: request.p50Ms, p99: request.p99Ms }, lookup: { rps: lookups.requestsPerSecond, p50: lookups.p50Ms, p99: lookups.p99Ms }, login };
    }

    // Report.
    const f = (n: number, d = 0): string => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
    const lines: string[] = [];
    lines.push(`Portcullis benchmark — ${new Date().toISOString()} — Node ${process.version}, ${CONNECTIONS} connections, ${DURATION}s per scenario after ${WARMUP}s warm-up, ${placementNote()}`, '');
    lines.push('Alone: each scenario on its own, its ratios against the mean of the bare http-proxy runs just before and just after it.', '');
    lines.push('| scenario | req/s | p50 ms | p99 ms | gateway CPU µs/req | CPU vs bare | req/s vs bare | note |', '|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of rows) lines.push(`| ${r.scenario} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.cpuUs, 1)} | ${f(r.cpuRatio, 2)}× | ${f(r.rpsRatio, 2)}× | ${r.note ?? ''} |`);
    lines.push(
      '',
      `Side by side: each scenario and bare http-proxy loaded at once on the same CPU, ${pairOptions.connections} connections each, ${PAIRS} × ${PAIR_SECONDS}s after ${WARMUP}s; the ratio is the median of the pairs. The targets are judged by this table.`,
      '',
    );
    lines.push("| scenario | CPU vs bare | pairs' range | req/s vs bare | pairs' range | pairs: CPU µs/req bare → gateway (ratio) |", '|---|---:|---:|---:|---:|---|');
    for (const r of [calibration, ...paired])
      lines.push(
        `| ${r.scenario} | ${f(r.cpuRatio, 2)}× | ${ratioRange(r.pairs.map((p) => p.cpuRatio))} | ${f(r.rpsRatio, 2)}× | ${ratioRange(r.pairs.map((p) => p.rpsRatio))} | ${pairList(r.pairs)} |`,
      );
    lines.push('', `Paced: each connection waits ${PACED_DELAY_MS} ms between requests, so both proxies serve about the same rate.`, '');
    lines.push('| scenario | req/s | p50 ms | p99 ms | CPU µs/req | CPU vs bare | note |', '|---|---:|---:|---:|---:|---:|---|');
    for (const r of pacedRows) lines.push(`| ${r.scenario} | ${f(r.rps)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${f(r.cpuUs, 1)} | ${f(r.cpuRatio, 2)}× | ${r.note ?? ''} |`);
    lines.push('', '| login | logins/s | p50 ms | p99 ms |', '|---|---:|---:|---:|');
    for (const l of logins) lines.push(`| ${l.name} | ${f(l.rps, 1)} | ${f(l.p50, 1)} | ${f(l.p99, 1)} |`);
    if (ldapCached) lines.push(`| Basic, LDAP user (cached) | ${f(ldapCached.rps)} | ${f(ldapCached.p50, 2)} | ${f(ldapCached.p99, 2)} |`);
    const mib = (bytes: number): string => f(bytes / 1048576, 1);
    const signed = (percent: number): string => `${percent >= 0 ? '+' : ''}${f(percent, 1)}%`;
    const growth = soakRss.growth;
    lines.push(
      '',
      `Soak: ${SOAK}s of mixed traffic after ${SOAK_WARMUP}s of it (${soak.requests} requests, ${f(soak.requestsPerSecond)} req/s), RSS read every second: peak of the first third ${mib(soakRss.earlyPeak)} MiB → peak of the last third ${mib(soakRss.latePeak)} MiB (${signed(growth)}); first and last reading ${mib(soakRss.first)} → ${mib(soakRss.last)} MiB (${signed(((soakRss.last - soakRss.first) / soakRss.first) * 100)}), range ${mib(soakRss.min)}–${mib(soakRss.max)} MiB`,
    );
    lines.push(
      '',
      `Users in the store: two gateways side by side, medians of ${USER_ROUNDS} alternating rounds (per round: p50 of ${DURATION}s of Basic, of user lookups through the admin API, and of 20 JSON logins).`,
      '',
    );
    lines.push(
      '| users in store | Basic (cached) req/s | p50 ms | p99 ms | user lookup req/s | p50 ms | JSON login p50 ms | rounds: Basic p50 / lookup p50 / login p50 ms |',
      '|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    for (const [count, side, median] of [
      [fewCount, fewSide, few],
      [manyCount, manySide, many],
    ] as const) {
      const perRound = side.rounds.map((r) => `${f(r.request.p50, 2)} / ${f(r.lookup.p50, 2)} / ${f(r.login.p50, 0)}`).join('; ');
      lines.push(
        `| ${count} | ${f(median.request.rps)} | ${f(median.request.p50, 2)} | ${f(median.request.p99, 2)} | ${f(median.lookup.rps)} | ${f(median.lookup.p50, 2)} | ${f(median.login.p50, 1)} | ${perRound} |`,
      );
    }
    lines.push(
      '',
      `Targets (ratios from this run, side by side; alone in brackets; the calibration pair read CPU ${f(calibration.cpuRatio, 2)}×, ${ratioRange(calibration.pairs.map((p) => p.cpuRatio))}):`,
    );
    for (const scenario of scenarios.filter((s) => s.user !== null)) {
      const r = paired.find((p) => p.scenario === scenario.name);
      const alone = measured.find((m) => m.scenario === scenario.name);
      if (!r || !alone) {
        lines.push(`- ${scenario.name}: not measured (${alone?.note ?? 'its check failed'}) MISS`);
        continue;
      }
      lines.push(
        `- ${r.scenario}: CPU ${f(r.cpuRatio, 2)}× [${f(alone.cpuRatio, 2)}×] (target ≤ 1.15×) ${r.cpuRatio <= 1.15 ? 'PASS' : 'MISS'}; req/s ${f(r.rpsRatio, 2)}× [${f(alone.rpsRatio, 2)}×] (target ≥ 0.85×) ${r.rpsRatio >= 0.85 ? 'PASS' : 'MISS'}`,
      );
    }
    lines.push(`- RSS growth over the soak (peak of the last third against the first): ${f(growth, 1)}% (target < 10%) ${growth < 10 ? 'PASS' : 'MISS'}`);
    const lat = many.request.p50 / few.request.p50;
    const lookupLat = many.lookup.p50 / few.lookup.p50;
    const loginLat = many.login.p50 / few.login.p50;
    lines.push(
      `- ${manyCount} vs ${fewCount} users: per-request p50 ${f(lat, 2)}×, user lookup p50 ${f(lookupLat, 2)}×, login p50 ${f(loginLat, 2)}× (target ≤ 1.2×) ${lat <= 1.2 && lookupLat <= 1.2 && loginLat <= 1.2 ? 'PASS' : 'MISS'}`,
    );
    const report = lines.join('\n') + '\n';
    process.stdout.write(report);
    writeFileSync(join(process.cwd(), '.bench', 'results.md'), report);
    writeFileSync(
      join(process.cwd(), '.bench', 'results.json'),
      JSON.stringify(
        {
          rows,
          sideBySide: { calibration, rows: paired },
          paced: { delayMs: PACED_DELAY_MS, rows: pacedRows },
          logins,
          soak: { seconds: SOAK, rss: soakRss, readings },
          users: { fewCount, manyCount, rounds: userSides.map((side) => side.rounds), few, many },
        },
        null,
        2,
      ),
    );
  } finally {
    for (const proc of procs.reverse()) await stop(proc);
    await new Promise<void>((r) => jwks.close(() => r()));
    await slapd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

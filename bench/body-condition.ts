/**
 * `npm run bench:body-condition`: what a rule's JSON body condition costs. Two gateways of this
 * checkout, side by side (pairs.ts): the same POST of a 1 KiB JSON body with a cached Basic
 * credential, through a rule without conditions (the body is streamed) and through a rule with
 * a `body:` condition on one field (the body is read, parsed and then forwarded as read).
 * Env: BENCH_BODY_PAIRS (3), BENCH_BODY_DURATION (s, 8), BENCH_BODY_CONNECTIONS (16).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { postJsonScript } from './lua.js';
import { pairList, pairs, ratioRange, type PairSide } from './pairs.js';
import { placementNote } from './proc.js';
import { startProcess, stop, type Proc } from './processes.js';

const PAIRS = Number(process.env.BENCH_BODY_PAIRS ?? 3);
const DURATION = Number(process.env.BENCH_BODY_DURATION ?? 8);
const CONNECTIONS = Number(process.env.BENCH_BODY_CONNECTIONS ?? 16);
const PASSWORD = 'Alice-Bench-Passw0rd';
const BASIC = { authorization: 'Basic ' + Buffer.from(`alice:${PASSWORD}`).toString('base64') };
/** A GMT-style run submission, padded to 1 KiB. */
const BODY = { name: 'bench', url: 'https://example.org/repo', email: 'a@example.org', filename: 'usage_scenario.yml', branch: 'main', machine_id: 7, schedule_mode: 'one-off', pad: 'x'.repeat(820) };

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-body-'));
  const procs: Proc[] = [];
  try {
    const upstream = await startProcess(['bench/upstream.mjs'], process.env, 'load');
    procs.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`;
    const gateway = async (name: string, rule: Record<string, unknown>): Promise<PairSide> => {
      const sub = join(dir, name);
      mkdirSync(sub);
      writeFileSync(join(sub, 'seed.txt'), `alice=${PASSWORD}\n`);
      const config = join(sub, 'portcullis.yaml');
      writeFileSync(
        config,
        stringify({
          server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1' },
          metrics: { listen: '' },
          store: { url: `sqlite:${join(sub, 'portcullis.db')}` },
          users: { seed_file: join(sub, 'seed.txt') },
          routes: [{ name: 'app', path_prefix: '/', upstream: upstreamUrl }],
          access: { default_policy: 'deny', rules: [{ name: 'submit', paths: ['/v1/software/add'], methods: ['POST'], ...rule }] },
        }),
      );
      const proc = await startProcess(['bench/gateway.mjs', config], { ...process.env, PORTCULLIS_ADMIN_PASSWORD: 'Bench-Admin-Passw0rd' });
      procs.push(proc);
      const url = `${proc.info.url as string}/v1/software/add`;
      const check = await fetch(url, { method: 'POST', headers: { ...BASIC, 'content-type': 'application/json' }, body: JSON.stringify(BODY) });
      const refused = await fetch(url, { method: 'POST', headers: { ...BASIC, 'content-type': 'application/json' }, body: JSON.stringify({ ...BODY, machine_id: 8 }) });
      if (check.status !== 200 || (rule.body !== undefined && refused.status !== 403)) throw new Error(`${name}: checked ${check.status}, a body that must not match ${refused.status}`);
      return { pid: proc.pid, url, headers: BASIC, script: postJsonScript(dir, name, BODY) };
    };
    const plain = await gateway('plain', { policy: 'authenticated' });
    const inspected = await gateway('inspected', { policy: 'authenticated', body: { machine_id: ['7', '9'], schedule_mode: ['one-off', 'daily'] } });
    const list = await pairs(plain, inspected, { count: PAIRS, seconds: DURATION, warmup: 3, connections: CONNECTIONS });
    process.stdout.write(
      `Body condition — ${new Date().toISOString()} — Node ${process.version}, ${placementNote()}; POST of a 1 KiB JSON body, cached Basic, ${CONNECTIONS} connections each, ${PAIRS} × ${DURATION}s\n\n`,
    );
    process.stdout.write('| rule | CPU vs a rule without conditions | req/s vs | pairs: CPU µs/req without → with (ratio) |\n|---|---:|---:|---|\n');
    process.stdout.write(`| body: { machine_id, schedule_mode } | ${ratioRange(list.map((p) => p.cpuRatio))} | ${ratioRange(list.map((p) => p.rpsRatio))} | ${pairList(list)} |\n`);
  } finally {
    await Promise.all(procs.map((proc) => stop(proc)));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

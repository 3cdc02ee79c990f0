/**
 * `npm run bench:directory`: what directories cost (SPEC 18), in one run.
 * - Cached Basic for an Active Directory user against an OpenLDAP user: two gateway processes,
 *   one behind a Samba AD DC, one behind slapd, side by side (pairs.ts).
 * - Cold logins per second (distinct users, 4 at a time) against Samba and against slapd.
 * - Revalidation: BENCH_DIR_SESSIONS (10,000) sessions of BENCH_DIR_USERS (1,000) ldap users
 *   re-checked against slapd: the time and CPU of the rounds that check every user once.
 * Needs root for Samba's fixed ports 389/636 (as the tests do).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { externalUser } from '../src/authn/federation.js';
import { startGateway } from '../test/helpers/gateway.js';
import { startSambaDc, type SambaDc } from '../test/helpers/samba.js';
import { startSlapd, type Slapd } from '../test/helpers/slapd.js';
import { pairList, pairs, ratioRange, type PairSide } from './pairs.js';
import { placementNote } from './proc.js';
import { startProcess, stop, type Proc } from './processes.js';

const USERS = Number(process.env.BENCH_DIR_USERS ?? 1000);
const SESSIONS = Number(process.env.BENCH_DIR_SESSIONS ?? 10_000);
const LOGINS = Number(process.env.BENCH_DIR_LOGINS ?? 40);
const PASSWORD = 'Bench-Dir-Passw0rd1';

function peopleLdif(count: number): string {
  const base = readFileSync(new URL('../test/fixtures/ldap/base.ldif', import.meta.url), 'utf8');
  const people = Array.from(
    { length: count },
    (_, i) => `dn: uid=u${i},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: u${i}\ncn: User ${i}\nsn: ${i}\nuserPassword: ${PASSWORD}\n`,
  ).join('\n');
  return `${base.trimEnd()}\n\n${people}`;
}

async function gatewayProcess(dir: string, name: string, ldap: Record<string, unknown>, upstream: string): Promise<Proc> {
  const sub = join(dir, name);
  mkdirSync(sub);
  const config = join(sub, 'portcullis.yaml');
  writeFileSync(
    config,
    stringify({
      server: { listen: '127.0.0.1:0', public_url: 'http://127.0.0.1' },
      metrics: { listen: '' },
      store: { url: `sqlite:${join(sub, 'portcullis.db')}` },
      ldap: { cache_ttl: '10m', ...ldap },
      routes: [{ name: 'app', path_prefix: '/', upstream }],
      access: { default_policy: 'authenticated' },
    }),
  );
  return startProcess(['bench/gateway.mjs', config], { ...process.env, PORTCULLIS_ADMIN_PASSWORD: 'Bench-Admin-Passw0rd' });
}

/** Distinct users logged in cold, `concurrency` at a time: logins per second. */
async function coldLogins(url: string, names: string[], concurrency = 4): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < names.length) {
        const name = names[next++] as string;
        const res = await fetch(`${url}/.auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: name, password: PASSWORD }) });
        if (res.status !== 200) throw new Error(`login of ${name}: ${res.status}`);
      }
    }),
  );
  return names.length / ((performance.now() - started) / 1000);
}

async function revalidation(slapd: Slapd): Promise<string> {
  const gw = await startGateway({
    config: {
      ldap: { url: slapd.url, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword, user_base: 'ou=people,dc=example,dc=org', group_base: 'ou=groups,dc=example,dc=org', refresh_interval: '1h' },
      users: { password_hash_cost: 10 },
    },
  });
  try {
    const { store, revalidator } = gw.registry;
    if (!revalidator) throw new Error('no revalidator');
    await revalidator.stop();
    const now = Date.now();
    for (let i = 0; i < USERS; i++) {
      await store.createUserIfAbsent(externalUser({ username: `u${i}`, name: `User ${i}`, email: '', roles: ['user'], projects: [] }, 'ldap', now));
    }
    for (let i = 0; i < SESSIONS; i++) {
      const user = await store.getUser(`u${i % USERS}`);
      await store.createSession({
        id_hash: randomBytes(16).toString('hex'),
        username: `u${i % USERS}`,
        auth_version: user?.auth_version ?? 1,
        method: 'form',
        created_at: now,
        last_seen_at: now,
        expires_at: now + 3_600_000,
      });
    }
    const cpu = process.cpuUsage();
    const started = performance.now();
    // Every user is due (never checked): a round claims 200 of them.
    const rounds = Math.ceil(USERS / 200);
    for (let i = 0; i < rounds; i++) await revalidator.round();
    const elapsed = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const ended = gw.events.filter((e) => e.event === 'DirectoryRevalidated').length;
    const unchecked = (await Promise.all(Array.from({ length: USERS }, (_, i) => store.getUser(`u${i}`)))).filter((u) => u?.directory_checked_at === null).length;
    if (unchecked > 0) throw new Error(`${unchecked} users were not checked`);
    return `${SESSIONS} sessions of ${USERS} users checked in ${rounds} rounds, ${(elapsed / 1000).toFixed(1)} s (${(elapsed / USERS).toFixed(2)} ms per user, gateway process CPU ${((used.user + used.system) / 1000 / USERS).toFixed(2)} ms per user); ${ended} ended (none expected)`;
  } finally {
    await gw.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-dirbench-'));
  const procs: Proc[] = [];
  let dc: SambaDc | undefined;
  const slapd = await startSlapd({ ldif: peopleLdif(Math.max(USERS, LOGINS)) });
  try {
    dc = await startSambaDc();
    for (let i = 0; i < LOGINS; i++) dc.tool('user', 'create', `a${i}`, PASSWORD);
    const upstream = await startProcess(['bench/upstream.mjs'], process.env, 'load');
    procs.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${upstream.info.port as number}`;
    const ad = await gatewayProcess(
      dir,
      'ad',
      { implementation: 'activedirectory', url: dc.url, bind_dn: dc.adminDn, bind_password: dc.adminPassword, user_base: `CN=Users,${dc.baseDn}` },
      upstreamUrl,
    );
    const ol = await gatewayProcess(dir, 'openldap', { url: slapd.url, bind_dn: slapd.bindDn, bind_password: slapd.bindPassword, user_base: 'ou=people,dc=example,dc=org' }, upstreamUrl);
    procs.push(ad, ol);
    const adLogins = await coldLogins(
      ad.info.url as string,
      Array.from({ length: LOGINS }, (_, i) => `a${i}`),
    );
    const olLogins = await coldLogins(
      ol.info.url as string,
      Array.from({ length: LOGINS }, (_, i) => `u${i}`),
    );
    const side = (proc: Proc, user: string): PairSide => ({
      pid: proc.pid,
      url: `${proc.info.url as string}/x`,
      headers: { authorization: 'Basic ' + Buffer.from(`${user}:${PASSWORD}`).toString('base64') },
    });
    const cached = await pairs(side(ol, 'u0'), side(ad, 'a0'), { count: 3, seconds: 8, warmup: 3, connections: 16 });
    await Promise.all(procs.splice(0).map((proc) => stop(proc)));
    await dc.close();
    dc = undefined;
    const revalidated = await revalidation(slapd);
    process.stdout.write(`Directories — ${new Date().toISOString()} — Node ${process.version}, ${placementNote()}\n\n`);
    process.stdout.write(`| measure | result |\n|---|---|\n`);
    process.stdout.write(
      `| cached Basic, AD user vs OpenLDAP user (CPU, side by side) | ${ratioRange(cached.map((p) => p.cpuRatio))} (req/s ${ratioRange(cached.map((p) => p.rpsRatio))}); ${pairList(cached)} |\n`,
    );
    process.stdout.write(`| cold logins, Samba AD (distinct users, 4 at a time) | ${adLogins.toFixed(1)}/s |\n`);
    process.stdout.write(`| cold logins, OpenLDAP (same) | ${olLogins.toFixed(1)}/s |\n`);
    process.stdout.write(`| revalidation against slapd | ${revalidated} |\n`);
  } finally {
    await Promise.all(procs.map((proc) => stop(proc)));
    await dc?.close();
    await slapd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

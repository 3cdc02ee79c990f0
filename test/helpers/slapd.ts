/**
 * Runs a real OpenLDAP slapd for a test: a temp dir with slapd.conf (mdb backend), the LDIF
 * fixtures loaded with slapadd, listening on a free loopback port (and ldaps on a second one
 * with a throw-away CA when asked). stop/restart/pause/resume simulate directory outages.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';

const SLAPD = '/usr/sbin/slapd';
const SLAPADD = '/usr/sbin/slapadd';

export interface Slapd {
  url: string;
  ldapsUrl?: string;
  port: number;
  caFile?: string;
  baseDn: string;
  bindDn: string;
  bindPassword: string;
  stop(): Promise<void>;
  restart(): Promise<void>;
  pause(): void;
  resume(): void;
}

export interface SlapdOptions {
  ldif?: string;
  /** Accept simple binds with a DN and an empty password as anonymous (the empty-bind trap). */
  allowAnonymousBind?: boolean;
  tls?: boolean;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A throw-away CA and a server certificate for 127.0.0.1 and localhost, signed by it, in `dir`. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.pem');
  const ext = join(dir, 'ext.cnf');
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=Portcullis Test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { ca, cert, key };
}

export async function startSlapd(options: SlapdOptions = {}): Promise<Slapd> {
  if (!existsSync(SLAPD) || !existsSync(SLAPADD)) throw new Error('slapd is not installed: apt-get install slapd ldap-utils (.ci/run does this)');
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-slapd-'));
  const dbDir = join(dir, 'db');
  mkdirSync(dbDir);
  let port = await freePort();
  let tlsPort = options.tls ? await freePort() : undefined;
  const certs = options.tls ? makeCertificates(dir) : undefined;
  const conf = join(dir, 'slapd.conf');
  const lines = [
    'include /etc/ldap/schema/core.schema',
    'include /etc/ldap/schema/cosine.schema',
    'include /etc/ldap/schema/inetorgperson.schema',
    'include /etc/ldap/schema/nis.schema',
    `pidfile ${join(dir, 'slapd.pid')}`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    options.allowAnonymousBind ? 'allow bind_anon_cred bind_anon_dn' : '',
    certs ? `TLSCACertificateFile ${certs.ca}\nTLSCertificateFile ${certs.cert}\nTLSCertificateKeyFile ${certs.key}` : '',
    'database mdb',
    'maxsize 10485760',
    'suffix "dc=example,dc=org"',
    'rootdn "cn=root,dc=example,dc=org"',
    'rootpw root-secret',
    `directory ${dbDir}`,
    'access to attrs=userPassword by self read by anonymous auth by * none',
    'access to * by dn.exact="cn=svc,dc=example,dc=org" read by self read by users read by anonymous auth',
  ];
  writeFileSync(conf, lines.filter((l) => l !== '').join('\n') + '\n');
  const ldif = join(dir, 'data.ldif');
  writeFileSync(ldif, options.ldif ?? readFileSync(new URL('../fixtures/ldap/base.ldif', import.meta.url), 'utf8'));
  execFileSync(SLAPADD, ['-f', conf, '-l', ldif], { stdio: 'pipe' });

  const pidFile = join(dir, 'slapd.pid');
  let child: ChildProcess | undefined;
  /**
   * Starts slapd on the chosen ports and waits until it answers. The port was free when chosen,
   * but another process (a parallel test file's slapd, a benchmark) can take it first: then our
   * slapd exits, and the server answering on the port is someone else's. Only an answer while
   * our child runs and has written its own pid counts.
   */
  const launch = async (): Promise<boolean> => {
    const urls = [`ldap://127.0.0.1:${port}/`, ...(tlsPort ? [`ldaps://127.0.0.1:${tlsPort}/`] : [])];
    rmSync(pidFile, { force: true });
    const proc = spawn(SLAPD, ['-f', conf, '-h', urls.join(' '), '-d', '0'], { stdio: 'ignore' });
    child = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) return false;
      const client = new Client({ url: `ldap://127.0.0.1:${port}`, connectTimeout: 500, timeout: 1000 });
      try {
        await client.bind('cn=svc,dc=example,dc=org', 'svc-secret');
        await client.unbind();
        if (proc.exitCode === null && existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === String(proc.pid)) return true;
      } catch {
        await client.unbind().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new Error(`slapd did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc || proc.exitCode !== null) return;
    proc.kill('SIGCONT');
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  for (let attempt = 1; !(await launch()); attempt++) {
    if (attempt === 3) throw new Error(`slapd exited three times on fresh ports (last ${port})`);
    port = await freePort();
    tlsPort = options.tls ? await freePort() : undefined;
  }
  return {
    url: `ldap://127.0.0.1:${port}`,
    ...(tlsPort ? { ldapsUrl: `ldaps://127.0.0.1:${tlsPort}` } : {}),
    port,
    ...(certs ? { caFile: certs.ca } : {}),
    baseDn: 'dc=example,dc=org',
    bindDn: 'cn=svc,dc=example,dc=org',
    bindPassword: 'svc-secret',
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await kill();
      // The gateway under test knows this port: if it was taken meanwhile, fail rather than move.
      if (!(await launch())) throw new Error(`slapd could not get its port ${port} back`);
    },
    pause: () => {
      child?.kill('SIGSTOP');
    },
    resume: () => {
      child?.kill('SIGCONT');
    },
  };
}

/** The `ldap:` config block for the fixture directory (search-then-bind, groups mapped). */
export function fixtureLdapConfig(slapd: Slapd, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    url: slapd.url,
    bind_dn: slapd.bindDn,
    bind_password: slapd.bindPassword,
    user_base: 'ou=people,dc=example,dc=org',
    group_base: 'ou=groups,dc=example,dc=org',
    role_mapping: { staff: ['user'], 'hpc-managers': ['manager'] },
    project_mapping: { 'proj-alpha': ['alpha'] },
    timeout: '1s',
    ...overrides,
  };
}

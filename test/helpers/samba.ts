/**
 * A real Active Directory domain controller for a test: Debian's Samba, provisioned once per
 * machine into a template directory (about 6 s) and copied per test file (a start takes under
 * 2 s). It listens on 127.0.0.1:389 and :636 (ldaps with a throw-away CA for 127.0.0.1), fixed
 * ports: only one test file may run a DC at a time. Accounts are managed with samba-tool on the
 * DC's own database (no network round trip).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './slapd.js';

export const AD_REALM = 'CORP.EXAMPLE.ORG';
export const AD_DOMAIN = 'CORP';
export const AD_BASE = 'DC=corp,DC=example,DC=org';
export const AD_ADMIN_PASSWORD = 'Adm1n-Passw0rd!';

export interface SambaDc {
  url: string;
  ldapsUrl: string;
  caFile: string;
  baseDn: string;
  adminDn: string;
  adminPassword: string;
  /** Runs samba-tool against the DC's database (`user create alice …`). */
  tool(...args: string[]): string;
  /** Stops the DC (its database stays: start() brings it back). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

const SAMBA = '/usr/sbin/samba';
const TOOL = '/usr/bin/samba-tool';
const TEMPLATE = join(tmpdir(), 'portcullis-samba-template-v1');

function provisionTemplate(): void {
  if (existsSync(join(TEMPLATE, 'ready'))) return;
  rmSync(TEMPLATE, { recursive: true, force: true });
  mkdirSync(TEMPLATE, { recursive: true });
  execFileSync(
    TOOL,
    [
      'domain',
      'provision',
      `--targetdir=${TEMPLATE}`,
      `--realm=${AD_REALM}`,
      `--domain=${AD_DOMAIN}`,
      '--server-role=dc',
      '--dns-backend=NONE',
      `--adminpass=${AD_ADMIN_PASSWORD}`,
      '--option=interfaces=lo',
      '--option=bind interfaces only=yes',
    ],
    { stdio: 'ignore' },
  );
  const tls = join(TEMPLATE, 'private', 'tls');
  mkdirSync(tls, { recursive: true });
  const made = makeCertificates(tls);
  cpSync(made.cert, join(tls, 'cert.pem'));
  cpSync(made.key, join(tls, 'key.pem'));
  chmodSync(join(tls, 'key.pem'), 0o600);
  const conf = join(TEMPLATE, 'etc', 'smb.conf');
  const text = readFileSync(conf, 'utf8')
    .replace(
      /\tserver services = .*\n/,
      '\tserver services = ldap, cldap, kdc\n\tldap server require strong auth = no\n\ttls enabled = yes\n\ttls keyfile = tls/key.pem\n\ttls certfile = tls/cert.pem\n\ttls cafile = tls/ca.pem\n',
    )
    .replace(/\tlog file = .*\n/, `\tlog file = ${TEMPLATE}/log.%m\n`)
    .replace(/\tpanic action = .*\n/, '');
  writeFileSync(conf, text);
  writeFileSync(join(TEMPLATE, 'ready'), '');
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

export async function startSambaDc(): Promise<SambaDc> {
  if (!existsSync(SAMBA) || !existsSync(TOOL)) throw new Error('samba is not installed: apt-get install samba (.ci/run does this)');
  provisionTemplate();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-samba-'));
  cpSync(TEMPLATE, dir, { recursive: true });
  const conf = join(dir, 'etc', 'smb.conf');
  writeFileSync(conf, readFileSync(conf, 'utf8').split(TEMPLATE).join(dir));
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    if (await listening(389)) throw new Error('port 389 is taken: another DC (or slapd) is running; AD test files run one at a time');
    child = spawn(SAMBA, ['-i', '-s', conf, '-M', 'single'], { stdio: 'ignore' });
    for (let waited = 0; waited < 15_000; waited += 100) {
      if ((await listening(389)) && (await listening(636))) return;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('samba did not start listening on 389/636');
  };
  const stop = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      running.once('exit', () => resolve());
      running.kill('SIGTERM');
      setTimeout(() => running.kill('SIGKILL'), 3000).unref();
    });
    for (let waited = 0; waited < 5000 && (await listening(389)); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  await start();
  return {
    url: 'ldap://127.0.0.1:389',
    ldapsUrl: 'ldaps://127.0.0.1:636',
    caFile: join(dir, 'private', 'tls', 'ca.pem'),
    baseDn: AD_BASE,
    adminDn: `CN=Administrator,CN=Users,${AD_BASE}`,
    adminPassword: AD_ADMIN_PASSWORD,
    tool: (...args) => execFileSync(TOOL, [...args, '-H', join(dir, 'private', 'sam.ldb'), '-s', conf], { encoding: 'utf8' }),
    start,
    stop,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

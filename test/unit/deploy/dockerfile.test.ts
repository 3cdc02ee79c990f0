import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { loadGatewayConfig } from '../../../src/app/check.js';

const text = readFileSync(new URL('../../../Dockerfile', import.meta.url), 'utf8');
const lines = text
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

test('the Dockerfile is multi-stage on an even-numbered (LTS) Node image of 22 or newer', () => {
  const froms = lines.filter((l) => l.startsWith('FROM '));
  assert.ok(froms.length >= 2);
  const final = froms[froms.length - 1] as string;
  const major = Number(/node:(\d+)/.exec(final)?.[1]);
  assert.ok(major >= 22 && major % 2 === 0, final);
});

test('the runtime runs as a non-root user with a health check on /.auth/healthz', () => {
  const users = lines.filter((l) => l.startsWith('USER '));
  const last = users[users.length - 1] ?? '';
  assert.ok(last !== '' && !/USER\s+(root|0)(:|$)/.test(last), last);
  assert.match(text, /HEALTHCHECK[\s\S]*\/\.auth\/healthz/);
  assert.match(text, /EXPOSE 8080/);
});

test('dependencies are installed from the lockfile and no secret is baked in', () => {
  assert.match(text, /npm ci/);
  assert.doesNotMatch(text, /npm install(?! -g)/);
  assert.doesNotMatch(text, /(PASSWORD|SECRET|TOKEN)\s*=/i);
});

test('optional dependencies stay in the image: on Node 22 and later SQLite opens through better-sqlite3-node22', () => {
  assert.doesNotMatch(text, /--omit[= ]optional|--no-optional/);
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { optionalDependencies?: Record<string, string> };
  assert.match(pkg.optionalDependencies?.['better-sqlite3-node22'] ?? '', /^npm:better-sqlite3@\^1[3-9]\./);
});

test('the entrypoint hides no warning: http-proxy no longer calls the deprecated util._extend', () => {
  const entrypoint = lines.find((l) => l.startsWith('ENTRYPOINT')) ?? '';
  assert.doesNotMatch(entrypoint, /--disable-warning|--no-warnings|--no-deprecation/);
});

test('both stages use the same Node image, and docs/deployment.md names it', () => {
  const images = new Set(lines.filter((l) => l.startsWith('FROM ')).map((l) => l.split(/\s+/)[1]));
  assert.equal(images.size, 1, [...images].join(', '));
  const image = [...images][0] as string;
  const docs = readFileSync(new URL('../../../docs/deployment.md', import.meta.url), 'utf8');
  assert.ok(docs.includes(`\`${image}\``), `docs/deployment.md names ${image}`);
  assert.ok(docs.includes(`Node ${/node:(\d+)/.exec(image)?.[1]} is the active LTS`), 'docs/deployment.md names its major as the active LTS');
});

/** The body of the heredoc the runtime stage writes to the image's config file. */
function imageConfigText(): string {
  const match = /^COPY [^\n]*<<'EOF' \/etc\/portcullis\/portcullis\.yaml\n([\s\S]*?)\nEOF$/m.exec(text);
  assert.ok(match, 'the Dockerfile writes /etc/portcullis/portcullis.yaml');
  return match[1] as string;
}

test('the image config listens on all interfaces, keeps SQLite in /data and has the routes and rules of config/portcullis.yaml', () => {
  const config = loadGatewayConfig({ text: imageConfigText(), env: {} });
  assert.equal(config.server.listen, '0.0.0.0:8080');
  assert.equal(config.metrics.listen, '0.0.0.0:9464');
  assert.equal(config.store.url, 'sqlite:/data/portcullis.db');
  assert.match(text, /PORTCULLIS_CONFIG=\/etc\/portcullis\/portcullis\.yaml/m);
  const image = parseYaml(imageConfigText()) as Record<string, unknown>;
  const development = parseYaml(readFileSync(new URL('../../../config/portcullis.yaml', import.meta.url), 'utf8')) as Record<string, unknown>;
  assert.deepEqual(image.routes, development.routes);
  assert.deepEqual(image.access, development.access);
});

test('no configuration key is set by ENV in the image, so a config file mounted over it decides its addresses and store', () => {
  // PORTCULLIS_<PATH> variables win over every config file (env > file).
  const env = text.split('\n').filter((l) => /^\s*(ENV\s|\S+=)/.test(l) || /^\s+PORTCULLIS_/.test(l));
  const keys = env.flatMap((l) => [...l.matchAll(/\b(PORTCULLIS_[A-Z_]+)=/g)].map((m) => m[1]));
  assert.deepEqual(keys, ['PORTCULLIS_CONFIG']);
});

/** Runs the HEALTHCHECK command against the sources (dist/ → src/ through tsx). */
async function healthcheck(configText: string, env: Record<string, string> = {}): Promise<number> {
  const cmd = /^HEALTHCHECK[^\n]*\\\n\s*CMD (\[.*\])$/m.exec(text)?.[1];
  assert.ok(cmd, 'HEALTHCHECK CMD is an exec-form array');
  const argv = JSON.parse(cmd) as string[];
  assert.equal(argv[0], 'node');
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-healthcheck-'));
  writeFileSync(join(dir, 'portcullis.yaml'), configText);
  const args = argv.slice(1).map((a) => a.replaceAll('./dist/', './src/'));
  // Asynchronously: the test's own server has to answer while the check runs.
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', ...args], {
      cwd: new URL('../../..', import.meta.url).pathname,
      env: { PATH: process.env.PATH ?? '', PORTCULLIS_CONFIG: join(dir, 'portcullis.yaml'), ...env },
      timeout: 20_000,
    });
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

test('the health check asks the port the gateway resolves from its config file and PORTCULLIS_SERVER_LISTEN', async () => {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/.auth/healthz' ? 200 : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const other = port === 65535 ? port - 1 : port + 1;
  const config = (listen: string): string => `server:\n  listen: ${listen}\nmetrics:\n  listen: ""\n`;
  try {
    assert.equal(await healthcheck(config(`0.0.0.0:${port}`)), 0, 'the config file port, asked on loopback');
    assert.equal(await healthcheck(config(`0.0.0.0:${other}`)), 1, 'nothing listens there');
    assert.equal(await healthcheck(config(`0.0.0.0:${other}`), { PORTCULLIS_SERVER_LISTEN: `127.0.0.1:${port}` }), 0, 'the environment wins over the file');
  } finally {
    server.close();
  }
});

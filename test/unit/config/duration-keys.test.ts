/**
 * Every duration key of the schema: written as a string with a unit (a bare number is refused,
 * not read as milliseconds), capped at 2^31-1 ms where it ends up in a timer (Node fires longer
 * timers after 1 ms), and positive where zero makes no sense.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { z } from 'zod';
import { DURATION_PATTERN } from '../../../src/config/duration.js';
import { loadConfig, unwrap, type ZodLike } from '../../../src/config/load.js';
import { configSchema, MAX_TIMER_MS } from '../../../src/config/schema.js';
import { configProblems } from './config-problems.js';

interface DurationKey {
  path: string;
  /** Ends up in setTimeout, AbortSignal.timeout or a socket timeout. */
  timer: boolean;
  /** 0s is refused. */
  positive: boolean;
}

const KEYS: DurationKey[] = [
  { path: 'server.shutdown_timeout', timer: true, positive: false },
  { path: 'server.signing_key_rotation', timer: false, positive: true },
  { path: 'users.lockout.window', timer: false, positive: true },
  { path: 'users.lockout.duration', timer: false, positive: true },
  { path: 'session.idle_timeout', timer: false, positive: true },
  { path: 'session.max_lifetime', timer: false, positive: true },
  { path: 'ldap.timeout', timer: true, positive: true },
  { path: 'ldap.cache_ttl', timer: false, positive: false },
  { path: 'ldap.refresh_interval', timer: true, positive: true },
  { path: 'ldap.refresh_grace', timer: false, positive: false },
  { path: 'jwt_issuers[0].max_token_lifetime', timer: false, positive: true },
  { path: 'jwt_issuers[0].clock_tolerance', timer: false, positive: false },
  { path: 'jwt_issuers[0].jwks_timeout', timer: true, positive: true },
  { path: 'jwt_issuers[0].jwks_cooldown', timer: false, positive: false },
  { path: 'routes[0].timeout', timer: true, positive: true },
  { path: 'routes[0].upstream_auth.lifetime', timer: false, positive: true },
  { path: 'access.rules[0].quota.per', timer: false, positive: true },
  { path: 'events.webhooks[0].timeout', timer: true, positive: true },
  { path: 'events.retention', timer: false, positive: true },
];

/** A config in which every duration key is present and valid. */
function base(): Record<string, any> {
  return {
    server: { shutdown_timeout: '10s', signing_key_rotation: '30d' },
    users: { lockout: { window: '15m', duration: '15m' } },
    // Long enough that a long idle_timeout does not trip "must not exceed max_lifetime".
    session: { idle_timeout: '2h', max_lifetime: '400d' },
    ldap: { url: 'ldap://127.0.0.1:389', user_base: 'ou=people,dc=x', timeout: '5s', cache_ttl: '60s', refresh_interval: '5m', refresh_grace: '1h' },
    jwt_issuers: [
      {
        name: 'portal',
        issuer: 'https://portal.example',
        audience: 'pcl',
        algorithms: ['RS256'],
        jwks_url: 'https://portal.example/jwks',
        max_token_lifetime: '1h',
        clock_tolerance: '30s',
        jwks_timeout: '5s',
        jwks_cooldown: '30s',
      },
    ],
    routes: [
      { name: 'app', upstream: 'builtin:echo', timeout: '60s', upstream_auth: { type: 'jwt', algorithm: 'HS256', key_file: '/run/secrets/key', lifetime: '5m', deliver: { header: 'X-Token' } } },
    ],
    access: { rules: [{ name: 'runs', paths: ['/runs'], quota: { requests: 10, per: '1h' } }] },
    events: { webhooks: [{ url: 'https://hooks.example.org/x', secret: 'k'.repeat(32), timeout: '5s' }], retention: '90d' },
  };
}

function withValue(path: string, value: unknown): string {
  const config = base();
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.');
  let node = config;
  for (const part of parts.slice(0, -1)) node = node[part];
  node[parts[parts.length - 1] as string] = value;
  return stringify(config);
}

const problems = configProblems;

/** Key paths (lists as `[0]`) of every key whose input is a duration string. */
function durationKeysOfSchema(): string[] {
  const out: string[] = [];
  const visit = (schema: ZodLike, path: string): void => {
    const inner = unwrap(schema);
    const def = inner._zod.def;
    if (def.type === 'object' && def.shape) {
      for (const [key, child] of Object.entries(def.shape)) visit(child, path ? `${path}.${key}` : key);
    } else if (def.type === 'array' && def.element) {
      visit(def.element, `${path}[0]`);
    } else if ((z.globalRegistry.get(inner as never) as { pattern?: string } | undefined)?.pattern === DURATION_PATTERN) {
      out.push(path);
    }
  };
  visit(configSchema as unknown as ZodLike, '');
  return out;
}

test('the table below covers every duration key of the schema', () => {
  assert.deepEqual(durationKeysOfSchema().sort(), KEYS.map((k) => k.path).sort());
  assert.deepEqual(problems(stringify(base())), [], 'the base config is valid');
});

test('a bare number where a duration belongs is refused with its key and the expected form, never read as milliseconds', () => {
  for (const { path } of KEYS) {
    const found = problems(withValue(path, 30));
    assert.ok(
      found.some((p) => p.startsWith(`${path}: a bare number is not a duration`) && p.includes('"30s"') && p.includes('"30ms"')),
      `${path}:\n${found.join('\n')}`,
    );
  }
});

test('a duration that reaches a timer is capped at 2^31-1 ms with its key path; one only compared with timestamps is not', () => {
  for (const { path, timer } of KEYS) {
    const found = problems(withValue(path, '30d'));
    const capped = found.some((p) => p.startsWith(`${path}: must be at most ${MAX_TIMER_MS}ms`));
    assert.equal(capped, timer, `${path} 30d:\n${found.join('\n')}`);
    if (timer) {
      assert.deepEqual(problems(withValue(path, '24d')), [], `${path} 24d is within the cap`);
      assert.deepEqual(problems(withValue(path, `${MAX_TIMER_MS}ms`)), [], `${path} at the cap`);
      assert.equal(problems(withValue(path, `${MAX_TIMER_MS + 1}ms`)).length, 1, `${path} one past the cap`);
    } else {
      assert.deepEqual(found, [], `${path} 30d`);
    }
  }
});

test('zero is refused with its key path where it makes no sense, and kept where it means "none"', () => {
  for (const { path, positive } of KEYS) {
    const found = problems(withValue(path, '0s'));
    if (positive)
      assert.ok(
        found.some((p) => p.startsWith(`${path}: must be positive`) || (path === 'session.max_lifetime' && p.startsWith('session.idle_timeout: must not exceed'))),
        `${path} 0s:\n${found.join('\n')}`,
      );
    else assert.deepEqual(found, [], `${path} 0s`);
  }
});

test('a quota window is at most 366 days, as long as the store keeps its counter', () => {
  assert.deepEqual(problems(withValue('access.rules[0].quota.per', '366d')), []);
  assert.deepEqual(problems(withValue('access.rules[0].quota.per', '367d')), ['access.rules[0].quota.per: must be at most 366d']);
});

test('every zero problem of one file is reported in one run', () => {
  const config = base();
  config.events.webhooks[0].timeout = '0s';
  config.jwt_issuers[0].jwks_timeout = '0s';
  config.users.lockout = { window: '0s', duration: '0ms' };
  config.events.retention = '0d';
  config.server.signing_key_rotation = '0h';
  const found = problems(stringify(config)).map((p) => p.split(':')[0]);
  assert.deepEqual(found.sort(), ['events.retention', 'events.webhooks[0].timeout', 'jwt_issuers[0].jwks_timeout', 'server.signing_key_rotation', 'users.lockout.duration', 'users.lockout.window']);
});

test("durations from the environment and --set are strings and parse like the file's", () => {
  const config = loadConfig({ text: '', env: { PORTCULLIS_SERVER_SHUTDOWN_TIMEOUT: '30s' }, overrides: ['events.retention=7d'] });
  assert.equal(config.server.shutdown_timeout, 30_000);
  assert.equal(config.events.retention, 7 * 86_400_000);
  assert.throws(() => loadConfig({ text: '', env: { PORTCULLIS_SERVER_SHUTDOWN_TIMEOUT: '30' } }), /server\.shutdown_timeout: not a duration/);
});

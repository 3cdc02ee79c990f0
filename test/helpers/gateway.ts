/**
 * Starts a real gateway in-process on 127.0.0.1:0 with a fresh SQLite store (or the given
 * store URL), capturing its log lines and events for assertions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadGatewayConfig } from '../../src/app/check.js';
import { startServer, type RunningServer } from '../../src/app/server.js';
import type { PortcullisEvent } from '../../src/events/types.js';
import { createLogger } from '../../src/observability/logger.js';

export const ADMIN_PASSWORD = 'Admin-Passw0rd!';

export interface TestGateway extends RunningServer {
  logs: string[];
  events: PortcullisEvent[];
  dir: string;
  /** Fetch against the gateway with redirects left to the test. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Logs in through the JSON login and returns the session cookie pair `name=value`. */
  login(username: string, password: string): Promise<string>;
}

export interface GatewayOptions {
  /** Config as an object (merged over the test defaults at the top level). */
  config?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  storeUrl?: string;
  /** Injected clock for timeouts and windows. */
  now?: () => number;
  /** Let the server decide on the default process metrics, as in production (off by default: one process runs many gateways). */
  processMetrics?: boolean;
}

export async function startGateway(options: GatewayOptions = {}): Promise<TestGateway> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const base: Record<string, unknown> = {
    server: { listen: '127.0.0.1:0', public_url: 'http://localhost' },
    metrics: { listen: '127.0.0.1:0' },
    store: { url: options.storeUrl ?? `sqlite:${join(dir, 'portcullis.db')}` },
    users: { password_hash_cost: 12 },
    routes: [{ name: 'echo', path_prefix: '/', upstream: 'builtin:echo' }],
    access: { default_policy: 'authenticated', rules: [] },
  };
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(options.config ?? {})) {
    const prior = merged[key];
    merged[key] = prior && typeof prior === 'object' && !Array.isArray(prior) && value && typeof value === 'object' && !Array.isArray(value) ? { ...prior, ...value } : value;
  }
  const env = { PORTCULLIS_ADMIN_PASSWORD: ADMIN_PASSWORD, ...(options.env ?? {}) };
  const config = loadGatewayConfig({ text: stringify(merged), env });
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', write: (line) => logs.push(line) });
  let running: RunningServer;
  try {
    running = await startServer(config, {
      env,
      logger,
      ...(options.processMetrics ? {} : { defaultMetrics: false }),
      announce: (line) => logs.push(line),
      ...(options.now ? { now: options.now } : {}),
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const events: PortcullisEvent[] = [];
  running.registry.events.subscribe((event) => events.push(event));
  const gateway: TestGateway = {
    ...running,
    logs,
    events,
    dir,
    fetch: (path, init) => fetch(running.url + path, { redirect: 'manual', ...init }),
    login: async (username, password) => {
      const response = await fetch(running.url + '/.auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
        redirect: 'manual',
      });
      if (response.status !== 200) throw new Error(`login of ${username} failed with ${response.status}`);
      const cookie = response.headers.getSetCookie().find((c) => c.startsWith(`${config.session.cookie_name}=`));
      if (!cookie) throw new Error('no session cookie');
      return cookie.split(';')[0] as string;
    },
    close: async () => {
      await running.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return gateway;
}

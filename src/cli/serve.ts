/** `portcullis serve` and `portcullis config check`: validate exactly the same way. */
import { existsSync } from 'node:fs';
import { EXIT_CONFIG, loadGatewayConfig } from '../app/check.js';
import { GATEWAY_NODE_FLAGS, missingNodeFlags } from '../app/node-flags.js';
import { startServer } from '../app/server.js';
import { ConfigError, formatProblem } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { SeedFileError } from '../users/seed.js';

export interface ConfigFlags {
  config?: string | undefined;
  set?: string[] | undefined;
}

/** --config, else $PORTCULLIS_CONFIG, else ./config/portcullis.yaml (when it exists). */
export function configFile(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (flags.config) return flags.config;
  if (env.PORTCULLIS_CONFIG) return env.PORTCULLIS_CONFIG;
  return existsSync('./config/portcullis.yaml') ? './config/portcullis.yaml' : undefined;
}

export function loadOrExit(flags: ConfigFlags): { config: Config; file: string | undefined } {
  const file = configFile(flags);
  try {
    return { config: loadGatewayConfig({ file, env: process.env, overrides: flags.set ?? [] }), file };
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const problem of err.problems) process.stderr.write(`${file ? `${file}: ` : ''}${formatProblem(problem)}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

export function configCheck(flags: ConfigFlags): void {
  const { file } = loadOrExit(flags);
  process.stdout.write(`${file ?? 'embedded defaults'}: OK\n`);
}

export async function serve(flags: ConfigFlags): Promise<void> {
  const { config, file } = loadOrExit(flags);
  const warnings: string[] = [];
  if (!file) warnings.push('no config file found: running on the embedded defaults');
  if (config.store.url.startsWith('sqlite:')) warnings.push('SQLite store: one instance only; use postgres:// for replicas');
  if (!config.server.public_url.startsWith('https:')) warnings.push('public_url is http: session cookies are sent without Secure');
  let running: Awaited<ReturnType<typeof startServer>>;
  try {
    running = await startServer(config, { reloadFrom: { file, overrides: flags.set ?? [] } });
  } catch (err) {
    if (err instanceof SeedFileError) {
      process.stderr.write(`users.seed_file: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`portcullis: cannot start: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const { logger } = running.registry;
  if (warnings.length > 0) logger.warn('DEVELOPMENT DEFAULTS IN USE — not for production', { warnings });
  const missing = missingNodeFlags();
  if (missing.length > 0) {
    logger.warn("started without the gateway's Node options: after a pause it spends more CPU per request (docs/deployment.md)", {
      missing,
      start_with: `node ${GATEWAY_NODE_FLAGS.join(' ')} dist/cli.js serve`,
    });
  }
  logger.info('listening', { url: running.url, metrics_url: running.metricsUrl ?? null, config: file ?? null });
  // SIGHUP: reload the configuration file (SPEC 1); its outcome is logged by the reload itself.
  process.on('SIGHUP', () => {
    running.reload().catch((err: unknown) => logger.error('config reload failed', { err: err as Error }));
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal });
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error('shutdown failed', { err: err as Error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

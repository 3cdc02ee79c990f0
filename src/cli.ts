#!/usr/bin/env node
/** The `portcullis` command. */
import { parseArgs } from 'node:util';
import { configCheck, serve } from './cli/serve.js';
import { migrate } from './cli/migrate.js';

const USAGE = `Usage: portcullis <command> [options]

Commands:
  serve [--config FILE] [--set key.path=value ...]   run the gateway
  config check [--config FILE]                         validate a configuration (exit 78 on problems)
  migrate [--config FILE]                              apply store migrations

Config file: --config, else $PORTCULLIS_CONFIG, else ./config/portcullis.yaml.
`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  const sub = command === 'config' ? rest.shift() : undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.values.help || command === undefined || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    process.exit(command === undefined ? 2 : 0);
  }
  const flags = { config: parsed.values.config, set: parsed.values.set };
  if (command === 'serve') return serve(flags);
  if (command === 'config' && sub === 'check') return configCheck(flags);
  if (command === 'migrate') return migrate(flags);
  process.stderr.write(`unknown command: ${[command, sub].filter(Boolean).join(' ')}\n\n${USAGE}`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`portcullis: ${(err as Error).message}\n`);
  process.exit(1);
});

#!/usr/bin/env node
/** The `portcullis` command (SPEC 12). Exit codes: 0 ok, 1 error, 2 usage, 77 not logged in or not allowed, 78 config. */
import { createRequire } from 'node:module';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { configReload, events, token, user } from './cli/admin.js';
import { CliError, EXIT } from './cli/client.js';
import { login, logout, whoami } from './cli/login.js';
import { migrate } from './cli/migrate.js';
import { configCheck, serve } from './cli/serve.js';

type Options = NonNullable<ParseArgsConfig['options']>;
const common: Options = { help: { type: 'boolean', short: 'h' } };
const session: Options = { path: { type: 'string' }, json: { type: 'boolean' } };
const configOpts: Options = { config: { type: 'string', short: 'c' }, set: { type: 'string', multiple: true } };

interface Command {
  usage: string;
  options: Options;
  positionals: [number, number];
}

const COMMANDS: Record<string, Command> = {
  serve: {
    options: configOpts,
    positionals: [0, 0],
    usage: `portcullis serve [--config FILE] [--set key.path=value ...]
  Runs the gateway. The config file is --config, else $PORTCULLIS_CONFIG, else ./config/portcullis.yaml,
  else the embedded defaults. PORTCULLIS_<PATH> variables override file values; --set overrides both.
  Example: portcullis serve --config /etc/portcullis/portcullis.yaml --set server.listen=0.0.0.0:8080`,
  },
  'config reload': {
    options: { ...session },
    positionals: [0, 0],
    usage: `portcullis config reload [--json]
  Asks the running gateway (of the CLI's token file) to reload its configuration file (role admin).
  Prints what changed and what needs a restart; exit 78 when the file is invalid (the gateway keeps its configuration), 77 when not allowed.`,
  },
  'config check': {
    options: configOpts,
    positionals: [0, 0],
    usage: `portcullis config check [--config FILE]
  Validates a configuration exactly as serve does; prints every problem with its key path and exits 78.
  Example: portcullis config check --config config/portcullis.yaml`,
  },
  migrate: {
    options: configOpts,
    positionals: [0, 0],
    usage: `portcullis migrate [--config FILE]
  Applies the store migrations of the configured store (serve does this at start too).`,
  },
  login: {
    options: { server: { type: 'string' }, ...session },
    positionals: [0, 2],
    usage: `portcullis login [--server URL] [--path FILE] [USERNAME [PASSWORD]]
  Gets an API token and writes {server, username, token, expires_at} to ~/.portcullis/auth-token.json (mode 0600;
  --path or PORTCULLIS_TOKEN_FILE to choose). Username and password also come from PORTCULLIS_USERNAME and
  PORTCULLIS_PASSWORD; the password is prompted without echo on a terminal.
  Example: PORTCULLIS_PASSWORD=… portcullis login --server https://gateway.example.org alice`,
  },
  logout: { options: session, positionals: [0, 0], usage: `portcullis logout [--path FILE]\n  Revokes the saved token on the server and deletes the token file.` },
  whoami: { options: session, positionals: [0, 0], usage: `portcullis whoami [--json]\n  Shows who the saved token (or PORTCULLIS_TOKEN with PORTCULLIS_SERVER) belongs to.` },
  user: {
    options: {
      ...session,
      query: { type: 'string', short: 'q' },
      role: { type: 'string', multiple: true },
      source: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      project: { type: 'string', multiple: true },
      attr: { type: 'string', multiple: true },
      name: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      'generate-password': { type: 'boolean' },
      'must-change-password': { type: 'boolean' },
      'add-role': { type: 'string', multiple: true },
      'remove-role': { type: 'string', multiple: true },
      roles: { type: 'string' },
      projects: { type: 'string' },
      disable: { type: 'boolean' },
      enable: { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
    },
    positionals: [1, 4],
    usage: `portcullis user list [--query Q] [--role R] [--source S] [--limit N] [--offset N] [--json]
portcullis user add USERNAME [--role R ...] [--project P ...] [--attr KEY=V1,V2 ...] [--name N] [--email E]
                    [--password-stdin | --generate-password | --password P] [--must-change-password]
portcullis user show USERNAME
portcullis user update USERNAME [--add-role R] [--remove-role R] [--roles a,b] [--projects a,b] [--attr KEY=V1,V2 ...] [--attr KEY=]
                       [--name N] [--email E] [--disable | --enable] [--must-change-password]
portcullis user passwd USERNAME (--password-stdin | --generate-password)
portcullis user delete USERNAME --yes
portcullis user revoke USERNAME
portcullis user credential set USERNAME ROUTE      (the value from stdin, or prompted without echo)
portcullis user credential delete USERNAME ROUTE
  Examples: portcullis user add alice --role user --project alpha --generate-password
            echo 'N3w-Passw0rd' | portcullis user passwd alice --password-stdin
            portcullis user credential set alice gmt < alice-gmt-token.txt`,
  },
  token: {
    options: {
      ...session,
      name: { type: 'string' },
      'expires-in': { type: 'string' },
      kind: { type: 'string' },
      user: { type: 'string' },
      'read-only': { type: 'boolean' },
      'scope-path': { type: 'string', multiple: true },
      'scope-method': { type: 'string', multiple: true },
    },
    positionals: [1, 2],
    usage: `portcullis token create [--name N] [--expires-in 30d] [--kind opaque|jwt]
                        [--read-only] [--scope-path P ...] [--scope-method M ...]
portcullis token list [--user U]
portcullis token revoke ID
  The secret of a new token is printed once. jwt tokens need role api. A new token expires no later
  than the token you are logged in with, and carries its scope. --read-only: GET and HEAD only;
  --scope-path/--scope-method (repeatable): the only paths (globs as in rules) and methods it reaches.
  Example: portcullis token create --name ci --expires-in 7d --read-only --scope-path '/api/**'`,
  },
  events: {
    options: { ...session, type: { type: 'string' }, user: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, follow: { type: 'boolean', short: 'f' } },
    positionals: [0, 0],
    usage: `portcullis events [--type T] [--user U] [--since 1h|ISO] [--limit N] [--follow] [--json]
  Example: portcullis events --type UserLoginFailed --since 24h`,
  },
};

function overview(): string {
  return `Usage: portcullis <command> [options]    (--help on any command for details)

${Object.values(COMMANDS)
  .map((c) => c.usage.split('\n')[0])
  .join('\n')}

Exit codes: 0 ok, 1 error, 2 usage, 77 not logged in or not allowed, 78 configuration.
`;
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--version' || argv[0] === '-V') {
    const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
    process.stdout.write(`portcullis ${pkg.version}\n`);
    return;
  }
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(overview());
    process.exit(argv.length === 0 ? EXIT.usage : EXIT.ok);
  }
  const name = argv[0] === 'config' ? `config ${argv[1] ?? ''}`.trim() : (argv[0] as string);
  const rest = argv.slice(name.split(' ').length);
  const command = COMMANDS[name];
  if (!command) throw new CliError(`unknown command: ${name}\n\n${overview()}`, EXIT.usage);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: rest, options: { ...common, ...command.options }, strict: true, allowPositionals: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${command.usage}`, EXIT.usage);
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  if (values.help) {
    process.stdout.write(command.usage + '\n');
    return;
  }
  const [min, max] = command.positionals;
  if (parsed.positionals.length < min || parsed.positionals.length > max) throw new CliError(`wrong number of arguments\n\n${command.usage}`, EXIT.usage);
  const s = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const flags = { config: s('config'), set: values.set as string[] | undefined };
  switch (name) {
    case 'serve':
      return serve(flags);
    case 'config check':
      return configCheck(flags);
    case 'config reload':
      return configReload(values);
    case 'migrate':
      return migrate(flags);
    case 'login':
      return login({ server: s('server'), path: s('path'), username: parsed.positionals[0], password: parsed.positionals[1], json: values.json === true });
    case 'logout':
      return logout({ path: s('path') });
    case 'whoami':
      return whoami({ path: s('path'), json: values.json === true });
    case 'user':
      return user(parsed.positionals[0], parsed.positionals.slice(1), values);
    case 'token':
      return token(parsed.positionals[0], parsed.positionals.slice(1), values);
    case 'events':
      return events(values);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CliError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(err.exitCode);
  }
  process.stderr.write(`portcullis: ${(err as Error).message}\n`);
  process.exit(EXIT.error);
});

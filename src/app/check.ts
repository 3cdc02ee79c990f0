/**
 * The full validation `serve` and `config check` share: schema, cross-field and rule checks, then
 * the preflight that reads what start-up would read (seed file, key and CA files, the admin
 * password from the environment) with the parsers start-up uses. `serve` therefore refuses such a
 * config with exit 78 before it migrates the store or creates the admin, as `config check` does.
 */
import { loadConfig, type ConfigProblem, type LoadOptions } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { accessConfigProblems } from '../authz/rules.js';
import { checkPublicKeyFile } from '../authn/external-jwt.js';
import { readCaFile } from '../directory/ldap-directory.js';
import { sqlitePath } from '../store/open.js';
import { readFileSync } from 'node:fs';
import { fallbackList } from '../config/upstream-auth.js';
import { readUpstreamKey } from '../proxy/upstream-credentials.js';
import { adminPasswordProblem } from '../users/bootstrap.js';
import { parseSeedFile, readSeedFile, SeedFileError } from '../users/seed.js';

export function gatewayChecks(config: Config): ConfigProblem[] {
  return accessConfigProblems(config.access);
}

/**
 * Problems start-up would otherwise meet only after opening and migrating the store. Every one
 * names its key path (or environment variable) and none repeats a secret: seed-file errors name
 * a line, never a password; the admin password is judged, never shown.
 */
function preflightProblems(config: Config, env: NodeJS.ProcessEnv): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const add = (path: string, message: string): void => {
    problems.push({ path, message });
  };

  // Not echoed: a postgres:// URL carries the database password.
  if (config.store.url.startsWith('sqlite:') && sqlitePath(config.store.url) === '') {
    add('store.url', 'sqlite: needs a path, e.g. sqlite:./data/portcullis.db (or sqlite::memory:)');
  }

  if (config.users.seed_file !== '') {
    const file = config.users.seed_file;
    let text: string | undefined;
    try {
      // undefined for a missing seed file: it seeds nothing (SPEC 9); start-up logs it.
      text = readSeedFile(file);
    } catch (err) {
      add('users.seed_file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
    if (text !== undefined) {
      try {
        parseSeedFile(text, file);
      } catch (err) {
        if (!(err instanceof SeedFileError)) throw err;
        add('users.seed_file', err.message);
      }
    }
  }

  config.jwt_issuers.forEach((issuer, i) => {
    if (issuer.public_key_file === '') return;
    try {
      checkPublicKeyFile(issuer.public_key_file);
    } catch (err) {
      add(`jwt_issuers[${i}].public_key_file`, fileProblem(issuer.public_key_file, err, 'not a PEM (SPKI) public key, a JWK or a JWKS'));
    }
  });

  config.routes.forEach((route, i) => {
    const auth = route.upstream_auth;
    if (auth === undefined) return;
    if (auth.type === 'jwt' && auth.algorithm !== undefined && auth.key_file !== '') {
      try {
        readUpstreamKey(auth.algorithm, auth.key_file);
      } catch (err) {
        add(`routes[${i}].upstream_auth.key_file`, fileProblem(auth.key_file, err, `not a private key for ${auth.algorithm}`));
      }
    }
    // fallback is one entry or a list: its value_file is read here, not by the *_file twins.
    fallbackList(auth).forEach((entry, j) => {
      if (entry.value !== '' || entry.value_file === '') return;
      try {
        readFileSync(entry.value_file);
      } catch (err) {
        add(`routes[${i}].upstream_auth.fallback${Array.isArray(auth.fallback) ? `[${j}]` : ''}.value_file`, fileProblem(entry.value_file, err, 'unreadable'));
      }
    });
  });

  if (config.ldap && config.ldap.tls_ca_file !== '') {
    try {
      readCaFile(config.ldap.tls_ca_file);
    } catch (err) {
      add('ldap.tls_ca_file', fileProblem(config.ldap.tls_ca_file, err, 'not a PEM certificate bundle'));
    }
  }

  const admin = adminPasswordProblem(env, config.users.password_policy);
  if (admin) add(admin.variable, admin.message);
  return problems;
}

/**
 * A read error by its code; a TypeError of our own parsers as is (they name the file, never its
 * content); anything else (a parser quoting the text it choked on) as `otherwise`.
 */
function fileProblem(file: string, err: unknown, otherwise: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return `cannot read ${file}: ${code}`;
  if (err instanceof TypeError && err.message.startsWith(`${file}: `)) return err.message;
  return `${file}: ${otherwise}`;
}

export function loadGatewayConfig(options: LoadOptions): Config {
  const env = options.env ?? process.env;
  return loadConfig({ ...options, extraChecks: [...(options.extraChecks ?? []), gatewayChecks, (config) => preflightProblems(config, env)] });
}

/** Exit code for configuration errors (EX_CONFIG). */
export const EXIT_CONFIG = 78;

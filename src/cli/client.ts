/**
 * The CLI's side of the HTTP API: the token file (~/.portcullis/auth-token.json, mode 0600),
 * authenticated calls, and the exit codes of SPEC 12.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { originOf } from '../http/origin.js';
import { DEFAULT_TIMEOUT_MS, describeBody, exchange, type Body, type Exchange, type ExchangeOptions } from './http.js';
import { format } from './output.js';

export const EXIT = { ok: 0, error: 1, usage: 2, notAllowed: 77, config: 78 } as const;

export class CliError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

export interface TokenFile {
  server: string;
  username: string;
  token: string;
  expires_at: string;
  id?: string;
}

export function tokenFilePath(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? env.PORTCULLIS_TOKEN_FILE ?? join(env.HOME ?? homedir(), '.portcullis', 'auth-token.json');
}

export function readTokenFile(path: string): TokenFile | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as TokenFile;
    return typeof data.token === 'string' && typeof data.server === 'string' ? data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes atomically with mode 0600 in a 0700 directory. The temporary file has an unguessable
 * name and is created exclusively (`wx`: never through a link someone planted in a shared
 * directory); the default directory is made 0700 even when it already existed.
 */
export function writeTokenFile(path: string, data: TokenFile, env: NodeJS.ProcessEnv = process.env): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (dir === dirname(tokenFilePath(undefined, { HOME: env.HOME }))) chmodSync(dir, 0o700);
  const temp = `${path}.${randomBytes(9).toString('base64url')}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(temp, 0o600);
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

export function removeTokenFile(path: string): void {
  if (existsSync(path)) unlinkSync(path);
}

export interface Session {
  server: string;
  token: string;
  file?: TokenFile;
}

/**
 * PORTCULLIS_TOKEN (+ PORTCULLIS_SERVER) or the token file; 77 when neither is there. A saved
 * token goes only to the server it was issued by: a PORTCULLIS_SERVER naming another origin
 * (staging, a typo, someone's .env) is refused rather than handed the token.
 */
export function currentSession(pathFlag?: string, env: NodeJS.ProcessEnv = process.env): Session {
  if (env.PORTCULLIS_TOKEN) return { server: env.PORTCULLIS_SERVER ?? 'http://127.0.0.1:8080', token: env.PORTCULLIS_TOKEN };
  const file = readTokenFile(tokenFilePath(pathFlag, env));
  if (!file) throw new CliError('Not logged in: run `portcullis login` first', EXIT.notAllowed);
  // What is not an http(s) URL is compared as written: two such strings never pass as one origin.
  if (env.PORTCULLIS_SERVER && (originOf(env.PORTCULLIS_SERVER) ?? env.PORTCULLIS_SERVER) !== (originOf(file.server) ?? file.server)) {
    throw new CliError(`The saved token is for ${file.server}, not PORTCULLIS_SERVER=${env.PORTCULLIS_SERVER}: log in there, or unset PORTCULLIS_SERVER`, EXIT.notAllowed);
  }
  return { server: file.server, token: file.token, file };
}

/** A warning for credentials about to cross the network in clear text (http to a non-loopback host). */
export function plainTextWarning(server: string): string | undefined {
  try {
    const url = new URL(server);
    return url.protocol === 'http:' && !isLoopback(url.hostname) ? `warning: ${url.origin} is plain http: the password and token cross the network unencrypted\n` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Loopback by address, never by the look of a name: 127.0.0.0/8, ::1 (and ::ffff:127.x), and the
 * name localhost. `127.evil.example` is a DNS name like any other. The URL parser has already
 * turned 127.1 and 0x7f.1 into 127.0.0.1 and [0:0::1] into [::1].
 */
function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  if (family === 6) return host === '::1' || /^::ffff:(127\.|7f[0-9a-f]{2}:)/.test(host);
  return false;
}

export interface ApiErrorBody {
  error?: { code?: unknown; message?: unknown; fields?: unknown };
}

export async function call<T>(session: Session, method: string, path: string, body?: unknown, options: ExchangeOptions = {}): Promise<T> {
  const answer = await exchange(
    new URL(`/.auth/api${path}`, session.server),
    {
      method,
      headers: { 'x-authentication': session.token, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    },
    options,
  );
  const { status, body: received } = answerOrThrow(answer, session.server, options);
  if (status < 200 || status > 299) {
    throw received.kind === 'json' ? apiError(status, received.value as ApiErrorBody) : apiError(status, undefined, unreadable(status, received, options));
  }
  if (received.kind === 'json') return received.value as T;
  if (received.kind === 'empty') return undefined as T;
  throw new CliError(unreadable(status, received, options), EXIT.error);
}

/** The answer of an exchange, or the CliError of one that got none (exit 1). */
export function answerOrThrow(answer: Exchange, server: string, options: ExchangeOptions = {}): Extract<Exchange, { kind: 'answer' }> {
  if (answer.kind === 'timeout') throw new CliError(`${server} did not answer within ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000}s`, EXIT.error);
  if (answer.kind === 'unreachable') throw new CliError(`cannot reach ${server}: ${format(answer.reason)}`, EXIT.error);
  return answer;
}

/** "the server answered HTTP 502 with a body that is not JSON": no byte of that body is shown. */
export function unreadable(status: number, body: Body, options: ExchangeOptions = {}): string {
  return `the server answered HTTP ${status} with ${describeBody(body, options.timeoutMs)}`;
}

/**
 * The CliError of an API error answer, by status first (401 and 403 exit 77 whatever the body),
 * in the server's words when it sent the JSON error of SPEC 8, else `fallback`.
 */
export function apiError(status: number, body: ApiErrorBody | undefined, fallback = `HTTP ${status}`): CliError {
  const error = typeof body === 'object' && body !== null && typeof body.error === 'object' && body.error !== null ? body.error : undefined;
  // The server's words, with their control characters made visible (format()).
  const lines = [error?.message !== undefined ? format(error.message) : fallback];
  const fields = typeof error?.fields === 'object' && error.fields !== null ? error.fields : {};
  for (const [field, message] of Object.entries(fields)) lines.push(`  ${format(field)}: ${format(message)}`);
  if (status === 401) return new CliError(`${lines.join('\n')}\nNot logged in or the token is no longer valid: run \`portcullis login\``, EXIT.notAllowed);
  if (status === 403) return new CliError(lines.join('\n'), EXIT.notAllowed);
  return new CliError(lines.join('\n'), EXIT.error);
}

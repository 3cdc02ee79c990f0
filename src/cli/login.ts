/** `portcullis login | logout | whoami` (SPEC 12). */
import {
  CliError,
  EXIT,
  answerOrThrow,
  apiError,
  call,
  currentSession,
  plainTextWarning,
  readTokenFile,
  removeTokenFile,
  tokenFilePath,
  unreadable,
  writeTokenFile,
  type ApiErrorBody,
} from './client.js';
import { exchange, type Body } from './http.js';
import { format, print, table } from './output.js';
import { promptHidden } from './prompt.js';

export interface LoginOptions {
  server?: string | undefined;
  path?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  json?: boolean | undefined;
}

export async function login(options: LoginOptions): Promise<void> {
  const env = process.env;
  const path = tokenFilePath(options.path);
  const server = options.server ?? env.PORTCULLIS_SERVER ?? readTokenFile(path)?.server ?? 'http://127.0.0.1:8080';
  const username = options.username ?? env.PORTCULLIS_USERNAME;
  let password = options.password ?? env.PORTCULLIS_PASSWORD;
  if (!username) throw new CliError('login needs a username (argument or PORTCULLIS_USERNAME)', EXIT.usage);
  if (password === undefined) {
    if (!process.stdin.isTTY) throw new CliError('login needs a password (argument, PORTCULLIS_PASSWORD, or a terminal to prompt on)', EXIT.usage);
    password = await promptHidden(`Password for ${username}: `);
  }
  if (process.stderr.isTTY) process.stderr.write(`Logging in to ${server} …\n`);
  const clearText = plainTextWarning(server);
  if (clearText) process.stderr.write(clearText);
  const answer = answerOrThrow(
    await exchange(new URL('/.auth/token', server), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username, password, name: 'cli' }),
    }),
    server,
  );
  const body = answer.body.kind === 'json' && typeof answer.body.value === 'object' && answer.body.value !== null ? (answer.body.value as TokenAnswer) : {};
  if (answer.status !== 201 || typeof body.token !== 'string') throw loginError(answer.status, answer.body);
  writeTokenFile(path, { server, username: body.user?.username ?? username, token: body.token, expires_at: body.expires_at ?? '', ...(body.id ? { id: body.id } : {}) });
  print(
    { server, username: body.user?.username ?? username, expires_at: body.expires_at, path },
    options.json === true,
    () => `Logged in to ${server} as ${format(body.user?.username ?? username)} (token saved to ${path}, expires ${format(body.expires_at)})\n`,
  );
}

interface TokenAnswer {
  token?: unknown;
  id?: string;
  expires_at?: string;
  user?: { username: string };
}

/**
 * What the CLI says for these codes: the server's message of a 5xx is a generic one (the gateway
 * never exposes 5xx detail), which would tell the operator less than the code does.
 */
const LOGIN_FAILURES: Record<string, string> = {
  directory_unavailable: 'The directory is unavailable; try again later',
  logins_overloaded: 'The gateway has too many logins in progress; try again shortly',
  store_unavailable: 'The gateway is not ready (its store is unavailable); try again later',
  not_ready: 'The gateway is not ready; try again later',
};

/**
 * Why a login got no token, by status first: 401 is always the one login failure (exit 77), a
 * known error code its own message, another JSON error the server's words (sanitised), and any
 * other answer its status and what its body was, never the body itself.
 */
export function loginError(status: number, body: Body): CliError {
  if (status === 401) return new CliError('Invalid username or password', EXIT.notAllowed);
  const error = body.kind === 'json' ? (body.value as ApiErrorBody | null)?.error : undefined;
  const known = typeof error?.code === 'string' && Object.hasOwn(LOGIN_FAILURES, error.code) ? LOGIN_FAILURES[error.code] : undefined;
  if (known !== undefined) return new CliError(known, EXIT.error);
  if (typeof error === 'object' && error !== null && error.message !== undefined) return apiError(status, { error });
  return new CliError(`login failed: ${status === 201 ? 'the server answered HTTP 201 without a token' : unreadable(status, body)}`, status === 403 ? EXIT.notAllowed : EXIT.error);
}

export async function logout(options: { path?: string | undefined }): Promise<void> {
  const path = tokenFilePath(options.path);
  const file = readTokenFile(path);
  if (file?.id) {
    await call({ server: file.server, token: file.token }, 'DELETE', `/tokens/${encodeURIComponent(file.id)}`).catch(() => undefined);
  }
  removeTokenFile(path);
  process.stdout.write(file ? `Logged out of ${file.server}\n` : 'Not logged in\n');
}

export async function whoami(options: { path?: string | undefined; json?: boolean | undefined }): Promise<void> {
  const session = currentSession(options.path);
  const me = await call<Record<string, unknown>>(session, 'GET', '/me');
  print(me, options.json === true, () => table([{ ...me, server: session.server }], ['username', 'roles', 'projects', 'source', 'server']));
}

/** `portcullis login | logout | whoami` (SPEC 12). */
import { CliError, EXIT, call, currentSession, plainTextWarning, readTokenFile, removeTokenFile, tokenFilePath, writeTokenFile } from './client.js';
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
  let response: Response;
  try {
    response = await fetch(new URL('/.auth/token', server), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username, password, name: 'cli' }),
      redirect: 'error',
    });
  } catch (err) {
    throw new CliError(`cannot reach ${server}: ${(err as Error).message}`, EXIT.error);
  }
  const body = (await response.json().catch(() => ({}))) as { token?: string; id?: string; expires_at?: string; user?: { username: string } };
  if (response.status === 401) throw new CliError('Invalid username or password', EXIT.notAllowed);
  if (response.status === 503) throw new CliError('The directory is unavailable; try again later', EXIT.error);
  if (response.status !== 201 || !body.token) throw new CliError(`login failed: HTTP ${response.status}`, EXIT.error);
  writeTokenFile(path, { server, username: body.user?.username ?? username, token: body.token, expires_at: body.expires_at ?? '', ...(body.id ? { id: body.id } : {}) });
  print({ server, username: body.user?.username ?? username, expires_at: body.expires_at, path }, options.json === true, () => `Logged in to ${server} as ${format(body.user?.username ?? username)} (token saved to ${path}, expires ${format(body.expires_at)})\n`);
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

/** `portcullis user …`, `token …` and `events` against the admin API (SPEC 8, 12). */
import { CliError, EXIT, call, currentSession } from './client.js';
import { format, print, table } from './output.js';
import { promptHidden, readStdin } from './prompt.js';

type Values = Record<string, string | boolean | string[] | undefined>;
const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
const list = (v: Values, k: string): string[] => {
  const value = v[k];
  const items = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  return items
    .flatMap((item) => item.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
};
/**
 * `--attr KEY=V1,V2` (repeatable; SPEC 16): KEY's values, or with nothing after `=` the removal of
 * KEY (an empty list is not a valid attribute). A later flag for the same key wins.
 */
function attrFlags(values: Values): Map<string, string[]> {
  const raw = values.attr;
  const changes = new Map<string, string[]>();
  for (const flag of Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []) {
    const at = flag.indexOf('=');
    if (at <= 0) throw new CliError(`--attr needs KEY=VALUE[,VALUE…] or KEY= to remove KEY, not ${format(flag)}`, EXIT.usage);
    const items = flag
      .slice(at + 1)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    changes.set(flag.slice(0, at).trim(), [...new Set(items)]);
  }
  return changes;
}

/** Attributes after the `--attr` changes: a key with no values is removed. */
function withAttrChanges(current: Record<string, string[]>, changes: Map<string, string[]>): Record<string, string[]> {
  const out: Record<string, string[]> = { ...current };
  for (const [key, items] of changes) {
    if (items.length === 0) delete out[key];
    else out[key] = items;
  }
  return out;
}

/** `machines=7,9  retention_days=365` (values holding a comma or space quoted as JSON). */
function attributesText(value: unknown): string {
  if (typeof value !== 'object' || value === null) return '-';
  const parts = Object.entries(value as Record<string, unknown>).map(
    ([key, items]) => `${key}=${(Array.isArray(items) ? items : []).map((v) => (/[\s,"]/.test(String(v)) ? JSON.stringify(String(v)) : format(v))).join(',')}`,
  );
  return parts.length > 0 ? parts.join('  ') : '-';
}

const USER_COLUMNS = ['username', 'name', 'roles', 'projects', 'source', 'disabled', 'last_login_at'];

async function password(values: Values): Promise<{ password?: string; generated?: string }> {
  if (values['password-stdin']) return { password: await readStdin() };
  if (values['generate-password']) {
    const { generatePassword } = await import('../users/password-policy.js');
    const generated = generatePassword();
    return { password: generated, generated };
  }
  const given = str(values, 'password');
  if (given !== undefined) process.stderr.write('warning: --password puts the password in the process list and the shell history; prefer --password-stdin\n');
  return given === undefined ? {} : { password: given };
}

export async function user(action: string | undefined, args: string[], values: Values): Promise<void> {
  const session = currentSession(str(values, 'path'));
  const json = values.json === true;
  const name = args[0];
  const needName = (): string => {
    if (!name) throw new CliError(`user ${action} needs a USERNAME`, EXIT.usage);
    return encodeURIComponent(name);
  };
  if (action !== 'credential' && args.length > 1) throw new CliError(`user ${action ?? ''} takes one USERNAME`, EXIT.usage);
  switch (action) {
    case 'credential':
      return credential(session, args);
    case 'list': {
      const params = new URLSearchParams();
      for (const [flag, key] of [
        ['query', 'q'],
        ['source', 'source'],
        ['limit', 'limit'],
        ['offset', 'offset'],
      ] as const) {
        const value = str(values, flag);
        if (value !== undefined) params.set(key, value);
      }
      // GET /api/users filters by one role (a repeated ?role= is ignored there, listing everyone):
      // several are refused rather than answered with more users than asked for.
      const roles = list(values, 'role');
      if (roles.length > 1) throw new CliError(`user list filters by one role, not ${roles.length} (${roles.map(format).join(', ')}): run it once per role`, EXIT.usage);
      if (roles[0] !== undefined) params.set('role', roles[0]);
      const data = await call<{ users: Array<Record<string, unknown>>; total: number }>(session, 'GET', `/users?${params.toString()}`);
      print(data, json, () => table(data.users, USER_COLUMNS) + `${data.users.length} of ${data.total} users\n`);
      return;
    }
    case 'show': {
      const data = await call<Record<string, unknown>>(session, 'GET', `/users/${needName()}`);
      print(
        data,
        json,
        () =>
          Object.entries(data)
            .map(([k, v]) => `${k.padEnd(22)} ${k === 'attributes' ? attributesText(v) : format(v)}`)
            .join('\n') + '\n',
      );
      return;
    }
    case 'add': {
      needName();
      const secret = await password(values);
      const body: Record<string, unknown> = { username: name, roles: list(values, 'role').length > 0 ? list(values, 'role') : ['user'], projects: list(values, 'project') };
      if (secret.password !== undefined) body.password = secret.password;
      if (str(values, 'name') !== undefined) body.name = str(values, 'name');
      if (str(values, 'email') !== undefined) body.email = str(values, 'email');
      if (values['must-change-password'] === true || secret.generated) body.must_change_password = true;
      const attributes = withAttrChanges({}, attrFlags(values));
      if (Object.keys(attributes).length > 0) body.attributes = attributes;
      const data = await call<Record<string, unknown>>(session, 'POST', '/users', body);
      // With --json the generated password is part of the JSON: printed nowhere else, it would be lost.
      print(
        secret.generated ? { ...data, generated_password: secret.generated } : data,
        json,
        () => `Created user ${format(data.username)} (${format(data.roles)})\n${secret.generated ? `Generated password: ${secret.generated}\n` : ''}`,
      );
      return;
    }
    case 'update': {
      const encoded = needName();
      const body: Record<string, unknown> = {};
      const attrs = attrFlags(values);
      const editsRoles = values['add-role'] !== undefined || values['remove-role'] !== undefined;
      if (editsRoles || attrs.size > 0) {
        const current = await call<{ roles: string[]; attributes?: Record<string, string[]> }>(session, 'GET', `/users/${encoded}`);
        // PATCH replaces the whole attributes object: the flags change the keys they name, the rest go back as they were.
        if (attrs.size > 0) body.attributes = withAttrChanges(current.attributes ?? {}, attrs);
        if (editsRoles) {
          const roles = new Set(current.roles);
          for (const r of list(values, 'add-role')) roles.add(r);
          for (const r of list(values, 'remove-role')) roles.delete(r);
          body.roles = [...roles];
        }
      }
      if (str(values, 'roles') !== undefined) body.roles = list(values, 'roles');
      if (str(values, 'projects') !== undefined) body.projects = list(values, 'projects');
      if (str(values, 'name') !== undefined) body.name = str(values, 'name');
      if (str(values, 'email') !== undefined) body.email = str(values, 'email');
      if (values.disable === true) body.disabled = true;
      if (values.enable === true) body.disabled = false;
      if (values['must-change-password'] === true) body.must_change_password = true;
      if (Object.keys(body).length === 0) throw new CliError('user update needs at least one change (see --help)', EXIT.usage);
      const data = await call<Record<string, unknown>>(session, 'PATCH', `/users/${encoded}`, body);
      print(data, json, () => `Updated ${format(data.username)}: roles ${format(data.roles)}, projects ${format(data.projects)}, ${data.disabled ? 'disabled' : 'enabled'}\n`);
      return;
    }
    case 'passwd': {
      const encoded = needName();
      const secret = await password(values);
      if (secret.password === undefined) throw new CliError('user passwd needs --password-stdin or --generate-password', EXIT.usage);
      await call(session, 'PATCH', `/users/${encoded}`, { password: secret.password });
      process.stdout.write(`Password of ${name} reset; it must be changed at the next login.\n${secret.generated ? `Generated password: ${secret.generated}\n` : ''}`);
      return;
    }
    case 'delete': {
      const encoded = needName();
      if (values.yes !== true) throw new CliError(`refusing to delete ${name} without --yes`, EXIT.usage);
      await call(session, 'DELETE', `/users/${encoded}`);
      process.stdout.write(`Deleted ${name}\n`);
      return;
    }
    case 'revoke': {
      const encoded = needName();
      await call(session, 'POST', `/users/${encoded}/revoke`);
      process.stdout.write(`Ended every session and token of ${name}\n`);
      return;
    }
    default:
      throw new CliError(`unknown user command: ${action ?? '(none)'}`, EXIT.usage);
  }
}

/**
 * `user credential set NAME ROUTE` (the value from stdin when it is not a terminal, else prompted
 * without echo) and `user credential delete NAME ROUTE` (SPEC 15): write-only, the value is never
 * printed, and nothing reads it back.
 */
async function credential(session: ReturnType<typeof currentSession>, args: string[]): Promise<void> {
  const [verb, name, route] = args;
  if ((verb !== 'set' && verb !== 'delete') || !name || !route || args.length !== 3) throw new CliError('usage: portcullis user credential set|delete USERNAME ROUTE', EXIT.usage);
  const path = `/users/${encodeURIComponent(name)}/upstream-credentials/${encodeURIComponent(route)}`;
  if (verb === 'delete') {
    await call(session, 'DELETE', path);
    process.stdout.write(`Deleted the ${route} credential of ${name}\n`);
    return;
  }
  const value = process.stdin.isTTY ? await promptHidden(`Credential of ${name} for ${route}: `) : await readStdin();
  if (value === '') throw new CliError('user credential set needs the value on stdin or typed at the prompt', EXIT.usage);
  await call(session, 'PUT', path, { value });
  process.stdout.write(`Stored the ${route} credential of ${name} (it is never shown again)\n`);
}

/** `--scope-path P` (repeatable, taken whole: a `re:` pattern may hold commas), `--scope-method M` (repeatable or a,b), `--read-only`. */
function scopeOptions(values: Values): { scope?: { paths: string[]; methods: string[] }; read_only?: true } {
  const raw = values['scope-path'];
  const paths = (Array.isArray(raw) ? raw : typeof raw === 'string' ? [raw] : []).filter((p) => p !== '');
  const methods = list(values, 'scope-method');
  if (paths.length === 0 && methods.length > 0) throw new CliError('--scope-method needs at least one --scope-path', EXIT.usage);
  return { ...(paths.length > 0 ? { scope: { paths, methods } } : {}), ...(values['read-only'] === true ? { read_only: true as const } : {}) };
}

/** A token's scope for a table cell: `GET /api/**` per grant (`*`: any method), `&` between grants, then `read-only`; `-` when unscoped. */
function scopeText(token: Record<string, unknown>): string {
  const grants = Array.isArray(token.scope) ? (token.scope as Array<{ paths?: unknown; methods?: unknown }>) : [];
  const parts = grants.map((g) => `${Array.isArray(g.methods) && g.methods.length > 0 ? format(g.methods) : '*'} ${format(g.paths)}`);
  if (token.read_only === true) parts.push('read-only');
  return parts.length > 0 ? format(parts.join(' & ')) : '-';
}

export async function token(action: string | undefined, args: string[], values: Values): Promise<void> {
  const session = currentSession(str(values, 'path'));
  const json = values.json === true;
  const columns = ['id', 'name', 'kind', 'username', 'created_at', 'expires_at', 'last_used_at', 'revoked_at', 'scope'];
  switch (action) {
    case 'create': {
      const body: Record<string, unknown> = { name: str(values, 'name') ?? 'cli', kind: str(values, 'kind') ?? 'opaque', ...scopeOptions(values) };
      if (str(values, 'expires-in') !== undefined) body.expires_in = str(values, 'expires-in');
      const data = await call<Record<string, unknown>>(session, 'POST', '/tokens', body);
      const scoped = data.scope !== null || data.read_only === true ? `, scope ${scopeText(data)}` : '';
      print(data, json, () => `Token ${format(data.id)} (${format(data.kind)}, expires ${format(data.expires_at)}${scoped}). It is shown once:\n${format(data.token)}\n`);
      return;
    }
    case 'list': {
      const user = str(values, 'user');
      const data = await call<{ tokens: Array<Record<string, unknown>> }>(session, 'GET', `/tokens${user ? `?user=${encodeURIComponent(user)}` : ''}`);
      print(data, json, () =>
        table(
          data.tokens.map((t) => ({ ...t, scope: scopeText(t) })),
          columns,
        ),
      );
      return;
    }
    case 'revoke': {
      const id = args[0];
      if (!id) throw new CliError('token revoke needs an ID', EXIT.usage);
      await call(session, 'DELETE', `/tokens/${encodeURIComponent(id)}`);
      process.stdout.write(`Revoked token ${id}\n`);
      return;
    }
    default:
      throw new CliError(`unknown token command: ${action ?? '(none)'}`, EXIT.usage);
  }
}

export async function events(values: Values): Promise<void> {
  const session = currentSession(str(values, 'path'));
  const json = values.json === true;
  const params = new URLSearchParams();
  for (const [flag, key] of [
    ['type', 'type'],
    ['user', 'username'],
    ['since', 'since'],
    ['limit', 'limit'],
  ] as const) {
    const value = str(values, flag);
    if (value !== undefined) params.set(key, value);
  }
  const render = (list: Array<Record<string, unknown>>): string =>
    list
      .map(
        (e) =>
          `${format(e.time)}  ${format(e.event).padEnd(16)} ${format(e.username).padEnd(16)} ${Object.entries(e)
            .filter(([k]) => !['time', 'event', 'username', 'id'].includes(k))
            .map(([k, v]) => `${k}=${format(v)}`)
            .join(' ')}`,
      )
      .join('\n') + (list.length ? '\n' : '');
  const data = await call<{ events: Array<Record<string, unknown>>; total: number }>(session, 'GET', `/events?${params.toString()}`);
  if (values.follow !== true) {
    print(data, json, () => render(data.events));
    return;
  }
  const seen = new Set<unknown>();
  const emit = (list: Array<Record<string, unknown>>): void => {
    for (const e of [...list].reverse()) {
      const key = e.id ?? `${String(e.time)}${String(e.event)}${String(e.username)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      process.stdout.write(json ? JSON.stringify(e) + '\n' : render([e]));
    }
  };
  emit(data.events);
  if (process.stderr.isTTY) process.stderr.write('Following events (Ctrl-C to stop) …\n');
  let stop = false;
  process.once('SIGINT', () => {
    stop = true;
  });
  while (!stop) {
    await new Promise((r) => setTimeout(r, 2000));
    const since = new URLSearchParams(params);
    since.set('since', '10m');
    emit((await call<{ events: Array<Record<string, unknown>> }>(session, 'GET', `/events?${since.toString()}`)).events);
  }
}

/** `portcullis config reload`: the running gateway reloads its file (SPEC 1); exit 78 when the file is invalid. */
export async function configReload(values: Values): Promise<void> {
  const session = currentSession(str(values, 'path'));
  let data: { changed: string[]; restart_required: string[] };
  try {
    data = await call<{ changed: string[]; restart_required: string[] }>(session, 'POST', '/config/reload');
  } catch (err) {
    // 400: the file has problems (each with its key path, printed by the error); the gateway keeps its configuration.
    if (err instanceof CliError && err.exitCode === EXIT.error && /configuration file has problems/.test(err.message)) throw new CliError(err.message, EXIT.config);
    throw err;
  }
  print(
    data,
    values.json === true,
    () =>
      [
        `Reloaded. Changed: ${data.changed.length > 0 ? data.changed.join(', ') : 'nothing'}`,
        ...(data.restart_required.length > 0 ? [`Needs a restart (kept as running): ${data.restart_required.join(', ')}`] : []),
      ].join('\n') + '\n',
  );
}

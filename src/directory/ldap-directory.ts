/**
 * The LDAP part of the password chain (SPEC 3): search-then-bind (or a DN template), groups
 * mapped to roles and projects. Every problem with the directory — down, slow, garbage —
 * throws `directory_unavailable`; only a bind refused with code 49 (or no unique entry) is an
 * ordinary "invalid". Each login uses fresh connections, so a restarted directory works again
 * without restarting the gateway.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Attribute, Change, Client, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';
import { ConnectionPool } from './connection-pool.js';
import { refusedBind, type RefusedBind } from './directory-outcome.js';
import { accountName } from './login-name.js';
import { DEFAULT_PRIVILEGED_ROLES, type LdapConfig } from '../config/schema.js';
import { PortcullisError } from '../errors/errors.js';
import { escapeDnValue, escapeFilterValue, fillTemplate } from './escape.js';

export interface DirectoryUser {
  dn: string;
  username: string;
  name: string;
  email: string;
  /** The entry's stable id (ldap.attributes.id; objectGUID in its string form), "" when it has none. */
  id: string;
  groups: string[];
  roles: string[];
  projects: string[];
  /** The value of ldap.revocation_attribute ("" when unset or absent). */
  revocation: string;
  /** SPEC 16: per `attribute_mapping` key, the values of its LDAP attribute (absent: none). */
  attributes: Record<string, string[]>;
}

/** What the directory says of an account now, read with the service account (revalidation). */
export type DirectoryEntryState = { kind: 'present'; user: DirectoryUser; disabled: boolean } | { kind: 'gone' };

export type DirectoryResult = { kind: 'ok'; user: DirectoryUser } | { kind: 'invalid'; refusal?: RefusedBind };

export interface DirectoryOptions {
  /** `access.privileged_roles`: dropped from mappings unless ldap.allow_privileged_roles (default: the schema's default list). */
  privilegedRoles?: ReadonlySet<string>;
  onOperation?: (op: 'bind' | 'search' | 'connect' | 'starttls' | 'modify', seconds: number, ok: boolean) => void;
  logger?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

class InvalidLogin extends Error {
  /** Only a reason worth telling the chain: one the directory proved the password for, or a lockout. */
  readonly refusal: RefusedBind | undefined;
  constructor(refusal?: RefusedBind) {
    super('invalid login');
    this.refusal = refusal !== undefined && (refusal.verified || refusal.reason === 'locked_out') ? refusal : undefined;
  }
}

/** userAccountControl's ACCOUNTDISABLE bit (Active Directory). */
const UAC_DISABLED = 2;

export class LdapDirectory {
  private readonly config: LdapConfig;
  private readonly options: DirectoryOptions;
  private readonly urls: string[];
  private readonly tls: ConnectionOptions;
  private readonly privileged: ReadonlySet<string>;
  private readonly activeDirectory: boolean;
  private readonly pool: ConnectionPool;

  constructor(config: LdapConfig, options: DirectoryOptions = {}) {
    this.config = config;
    this.options = options;
    this.privileged = options.privilegedRoles ?? new Set(DEFAULT_PRIVILEGED_ROLES);
    this.activeDirectory = config.implementation === 'activedirectory';
    this.urls = Array.isArray(config.url) ? config.url : [config.url];
    if (this.urls.length === 0 || this.urls.some((u) => !/^ldaps?:\/\//.test(u))) throw new TypeError('ldap.url must be ldap:// or ldaps:// URLs');
    this.tls = { rejectUnauthorized: true, minVersion: 'TLSv1.2' };
    if (config.tls_ca_file !== '') this.tls.ca = readCaFile(config.tls_ca_file);
    this.pool = new ConnectionPool({ size: config.pool_size, waitMs: config.timeout, open: () => this.openService() });
  }

  /** The account a login name stands for (`CORP\\alice`, `alice@corp…` are `alice`), or undefined for another domain. */
  accountName(login: string): string | undefined {
    if (!this.activeDirectory) return login;
    return accountName(login, { upnSuffixes: this.config.upn_suffixes, netbiosDomain: this.config.netbios_domain });
  }

  async authenticate(username: string, password: string): Promise<DirectoryResult> {
    if (typeof username !== 'string' || typeof password !== 'string') return { kind: 'invalid' };
    if (username === '' || username.length > 256 || username.includes('\0') || username.trim() !== username) return { kind: 'invalid' };
    // Never an unauthenticated bind: an empty password is refused before any network traffic.
    if (password === '' || password.includes('\0')) return { kind: 'invalid' };
    try {
      return { kind: 'ok', user: await this.login(username, password) };
    } catch (err) {
      if (err instanceof InvalidLogin) return err.refusal === undefined ? { kind: 'invalid' } : { kind: 'invalid', refusal: err.refusal };
      if (err instanceof PortcullisError) throw err;
      throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: err });
    }
  }

  /**
   * Whether the directory holds an entry for the name, looked up with the service account (the
   * DN template's entry read, or the user filter searched), without any user's password. Throws
   * `directory_unavailable` when the directory cannot say: a caller deciding whether a name is
   * free must then fail closed.
   */
  async hasUser(username: string): Promise<boolean> {
    if (username === '' || username.length > 256 || username.includes('\0')) return false;
    return (await this.serviceRead(async (client) => (await this.findEntry(client, username)) !== undefined)) === true;
  }

  /**
   * The account as the directory has it now (SPEC 18 revalidation), read with the service
   * account: gone, or present with its id, mapped roles and projects, revocation value and
   * whether it is disabled. Throws `directory_unavailable` when the directory cannot answer.
   */
  async lookup(username: string): Promise<DirectoryEntryState> {
    return this.serviceRead(async (client) => {
      const entry = await this.findEntry(client, username);
      if (entry === undefined) return { kind: 'gone' } as const;
      const typed = first(entry[this.config.attributes.username]) ?? username;
      const user = await this.describe(client, entry, typed);
      return { kind: 'present', user, disabled: await this.isDisabled(client, entry) } as const;
    });
  }

  /**
   * Changes an expired directory password (SPEC 18): a `unicodePwd` delete of the old value and
   * add of the new one, on the service account's connection, so that the directory checks the
   * old password and its history itself. Only over ldaps or StartTLS (AD refuses it otherwise).
   * Resolves false when the directory refused the change (wrong old password, policy).
   */
  async changeExpiredPassword(username: string, oldPassword: string, newPassword: string): Promise<boolean> {
    if (!this.config.start_tls && !this.urls.every((url) => url.startsWith('ldaps://')))
      throw new PortcullisError('directory_unavailable', 'Directory passwords are changed only over ldaps:// or StartTLS');
    return this.serviceRead(async (client) => {
      const entry = await this.findEntry(client, username);
      if (entry === undefined) return false;
      const quoted = (text: string): Buffer => Buffer.from(`"${text}"`, 'utf16le');
      try {
        await this.timed('modify', () =>
          client.modify(entry.dn, [
            new Change({ operation: 'delete', modification: new Attribute({ type: 'unicodePwd', values: [quoted(oldPassword)] }) }),
            new Change({ operation: 'add', modification: new Attribute({ type: 'unicodePwd', values: [quoted(newPassword)] }) }),
          ]),
        );
        return true;
      } catch (err) {
        // A result code (constraint violation: wrong old password, history, complexity) is a refusal.
        if (typeof (err as { code?: unknown }).code === 'number') return false;
        throw err;
      }
    });
  }

  async ping(): Promise<void> {
    await this.serviceRead(async () => true);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Work on a pooled service-account connection; anything but an LDAP refusal is directory_unavailable. */
  private async serviceRead<T>(work: (client: Client) => Promise<T>): Promise<T> {
    try {
      return await this.pool.use(work);
    } catch (err) {
      if (err instanceof InvalidLogin || err instanceof PortcullisError) throw err;
      throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: err });
    }
  }

  /** A new connection bound as the service account (anonymous without bind_dn), for the pool. */
  private async openService(): Promise<Client> {
    const client = await this.connect();
    try {
      if (this.config.bind_dn !== '') await this.timed('bind', () => client.bind(this.config.bind_dn, this.config.bind_password));
      return client;
    } catch (err) {
      await client.unbind().catch(() => undefined);
      throw err;
    }
  }

  /** The user's entry by the DN template (read) or the user filter (a unique match), or undefined. */
  private async findEntry(client: Client, username: string): Promise<Entry | undefined> {
    const config = this.config;
    if (config.user_dn_template !== '') {
      const dn = fillTemplate(config.user_dn_template, { username: escapeDnValue(username) });
      try {
        return await this.readEntry(client, dn);
      } catch (err) {
        if (err instanceof InvalidLogin || err instanceof NoSuchObjectError) return undefined;
        throw err;
      }
    }
    const filter = fillTemplate(config.user_filter, { username: escapeFilterValue(username) });
    const { searchEntries } = await this.timed('search', () =>
      client.search(config.user_base, { scope: 'sub', filter, sizeLimit: 2, attributes: this.userAttributes(), explicitBufferAttributes: this.binaryAttributes() }),
    );
    return searchEntries.length === 1 ? searchEntries[0] : undefined;
  }

  private async login(username: string, password: string): Promise<DirectoryUser> {
    const config = this.config;
    // Without a service account, a DN-template login reads the entry and its groups as the user,
    // on the connection it bound (the anonymous one may read neither).
    if (config.user_dn_template !== '' && config.bind_dn === '') {
      const dn = fillTemplate(config.user_dn_template, { username: escapeDnValue(username) });
      const asUser = await this.boundAs(dn, password);
      try {
        const entry = await this.readEntry(asUser, dn);
        return await this.verified(asUser, entry, username, true);
      } finally {
        await asUser.unbind().catch(() => undefined);
      }
    }
    const entry = await this.serviceRead((client) => this.findEntry(client, username));
    if (entry === undefined) {
      // AD answers an unknown name like a wrong password (52e): no bind is tried for it here.
      throw new InvalidLogin({ reason: 'unknown_user', verified: false });
    }
    await this.bindAs(entry.dn, password);
    return this.serviceRead((client) => this.verified(client, entry, username, false));
  }

  /** After a good bind: the typed name must be the entry's, the entry not disabled; then its groups. */
  private async verified(reader: Client, entry: Entry, username: string, asUser: boolean): Promise<DirectoryUser> {
    const typed = first(entry[this.config.attributes.username]);
    if (typed === undefined || typed.toLowerCase() !== username.toLowerCase()) throw new InvalidLogin();
    if (!asUser && (await this.isDisabled(reader, entry))) throw new InvalidLogin({ reason: 'account_disabled', verified: true });
    return this.describe(reader, entry, typed);
  }

  /** The entry as a directory user: names, id, groups mapped to roles and projects. */
  private async describe(reader: Client, entry: Entry, typed: string): Promise<DirectoryUser> {
    const config = this.config;
    const groups = config.group_base !== '' ? await this.groupsOf(reader, entry.dn, typed) : [];
    return {
      dn: entry.dn,
      username: typed,
      name: first(entry[config.attributes.name]) ?? '',
      email: first(entry[config.attributes.email]) ?? '',
      id: directoryId(entry[config.attributes.id]),
      groups,
      revocation: config.revocation_attribute === '' ? '' : all(entry[config.revocation_attribute]).join('\n'),
      ...this.map(groups),
      attributes: this.mappedAttributes(entry),
    };
  }

  /** Disabled: AD's userAccountControl bit 2, or a match of ldap.disabled_filter on the entry. */
  private async isDisabled(reader: Client, entry: Entry): Promise<boolean> {
    if (this.activeDirectory && (Number(first(entry.userAccountControl) ?? '0') & UAC_DISABLED) !== 0) return true;
    if (this.config.disabled_filter === '') return false;
    const { searchEntries } = await this.timed('search', () => reader.search(entry.dn, { scope: 'base', filter: this.config.disabled_filter, attributes: ['1.1'], sizeLimit: 1 }));
    return searchEntries.length > 0;
  }

  private userAttributes(): string[] {
    const a = this.config.attributes;
    const extra = [a.id, ...(this.config.revocation_attribute !== '' ? [this.config.revocation_attribute] : []), ...(this.activeDirectory ? ['userAccountControl'] : [])];
    return [...new Set([a.username, a.name, a.email, ...Object.values(this.config.attribute_mapping), ...extra])];
  }

  /** Attributes read as bytes: objectGUID is binary. */
  private binaryAttributes(): string[] {
    return this.config.attributes.id.toLowerCase() === 'objectguid' ? [this.config.attributes.id] : [];
  }

  /** The entry's values of each mapped attribute (ldapts keys an entry by the requested names). */
  private mappedAttributes(entry: Entry): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [key, name] of Object.entries(this.config.attribute_mapping)) {
      const values = all(entry[name] ?? entry[Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase()) ?? '']);
      if (values.length > 0) out[key] = values;
    }
    return out;
  }

  /** Binds as the user on a separate connection, closed again; code 49 is a wrong password. */
  private async bindAs(dn: string, password: string): Promise<void> {
    await (await this.boundAs(dn, password)).unbind().catch(() => undefined);
  }

  /** A new connection bound as the user (the caller closes it); code 49 is a wrong password. */
  private async boundAs(dn: string, password: string): Promise<Client> {
    const client = await this.connect();
    try {
      await this.timed('bind', () => client.bind(dn, password));
      return client;
    } catch (err) {
      await client.unbind().catch(() => undefined);
      if (err instanceof InvalidCredentialsError) throw new InvalidLogin(refusedBind(err.message, this.activeDirectory));
      throw err;
    }
  }

  private async readEntry(client: Client, dn: string): Promise<Entry> {
    const { searchEntries } = await this.timed('search', () =>
      client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: this.userAttributes(), explicitBufferAttributes: this.binaryAttributes(), sizeLimit: 1 }),
    );
    const entry = searchEntries[0];
    if (!entry) throw new InvalidLogin();
    return entry;
  }

  private async groupsOf(client: Client, dn: string, username: string): Promise<string[]> {
    const config = this.config;
    const filter = fillTemplate(config.group_filter, { dn: escapeFilterValue(dn), username: escapeFilterValue(username) });
    const { searchEntries } = await this.timed('search', () =>
      // Paged (ldap.page_size); search references (referrals) are not followed.
      client.search(config.group_base, { scope: 'sub', filter, attributes: [config.group_name_attribute], paged: { pageSize: config.page_size } }),
    );
    const names = new Set<string>();
    for (const entry of searchEntries) for (const value of all(entry[config.group_name_attribute])) names.add(value);
    return [...names].sort();
  }

  private map(groups: string[]): { roles: string[]; projects: string[] } {
    const config = this.config;
    const roles = new Set<string>();
    const projects = new Set<string>();
    for (const group of groups) {
      // Own keys only: a directory group named constructor or toString is no mapping.
      if (Object.hasOwn(config.role_mapping, group)) for (const role of config.role_mapping[group] ?? []) roles.add(role);
      if (Object.hasOwn(config.project_mapping, group)) for (const project of config.project_mapping[group] ?? []) projects.add(project);
    }
    let mapped = [...roles];
    if (mapped.length === 0) mapped = [...config.default_roles];
    if (!config.allow_privileged_roles) mapped = mapped.filter((r) => !this.privileged.has(r));
    return { roles: mapped.sort(), projects: [...projects].sort() };
  }

  /** Connects to the first URL that answers (failover in order), with StartTLS when configured. */
  private async connect(): Promise<Client> {
    let lastError: unknown;
    for (const url of this.urls) {
      // ldapts treats any tlsOptions as "connect with TLS": pass them only for ldaps://.
      const secure = url.startsWith('ldaps://');
      const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
      const client = new Client({
        url,
        timeout: this.config.timeout,
        connectTimeout: this.config.timeout,
        strictDN: true,
        createSecureConnection: this.handshakeWithin as typeof tlsConnect,
        ...(secure ? { tlsOptions: this.tlsFor(host) } : {}),
      });
      try {
        if (this.config.start_tls) await this.timed('starttls', () => client.startTLS(this.tlsFor(host)));
        else await this.timed('connect', () => probe(client));
        return client;
      } catch (err) {
        lastError = err;
        await client.unbind().catch(() => undefined);
        this.options.logger?.('warn', 'LDAP server unreachable, trying the next', { url, err: (err as Error).message });
      }
    }
    throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: lastError });
  }

  /**
   * TLS options for one connection to `host`, a fresh object each time (ldapts writes the socket
   * into it). The certificate is checked against the configured host: with StartTLS the plain
   * socket carries no host name, and Node then checked the certificate against "localhost".
   */
  private tlsFor(host: string): ConnectionOptions {
    return { ...this.tls, host, ...(isIP(host) === 0 ? { servername: host } : {}) };
  }

  /**
   * tls.connect with the handshake bounded by ldap.timeout: ldapts waits for StartTLS's
   * handshake without a timer, so a directory that answered the extended operation and then
   * went silent held the login (and its reserved guess) forever.
   */
  private readonly handshakeWithin = (...args: unknown[]): TLSSocket => {
    // ldapts calls it as (options) for StartTLS and as (port, host, options) for ldaps://.
    const socket = (tlsConnect as (...a: unknown[]) => TLSSocket)(...args);
    const options = args.find((a): a is ConnectionOptions => typeof a === 'object' && a !== null);
    const timer = setTimeout(() => {
      socket.destroy(new Error(`TLS handshake with the directory took longer than ${this.config.timeout} ms`));
      (options?.socket as Socket | undefined)?.destroy();
    }, this.config.timeout);
    timer.unref();
    socket.once('secureConnect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
    return socket;
  };

  private async timed<T>(op: 'bind' | 'search' | 'connect' | 'starttls' | 'modify', fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let ok = false;
    try {
      const result = await fn();
      ok = true;
      return result;
    } catch (err) {
      ok = err instanceof InvalidCredentialsError;
      throw err;
    } finally {
      this.options.onOperation?.(op, Number(process.hrtime.bigint() - started) / 1e9, ok);
    }
  }
}

/**
 * Opens the connection without authenticating, so failover can move on before any bind.
 * ldapts connects lazily on the first operation; its `_connect` is the same step made early
 * (if a future ldapts renames it, the first operation connects and failover happens there).
 */
async function probe(client: Client): Promise<void> {
  const internal = client as unknown as { _connect?: () => Promise<void> | undefined };
  if (typeof internal._connect === 'function') await internal._connect();
}

/**
 * Reads `ldap.tls_ca_file` and checks it holds at least one PEM certificate and nothing that fails
 * to parse: Node's TLS takes any bytes as `ca` and only fails at the first handshake, where a
 * broken bundle looks like an unreachable directory. `config check` runs it before start.
 */
export function readCaFile(file: string): Buffer {
  const bytes = readFileSync(file);
  const blocks = bytes.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new TypeError(`${file}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it`);
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch {
      throw new TypeError(`${file}: certificate ${i + 1} of ${blocks.length} does not parse`);
    }
  });
  return bytes;
}

/**
 * An entry's id as a string: entryUUID as it is, a 16-byte objectGUID in its usual form
 * (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: the first three groups little-endian), "" when absent.
 */
export function directoryId(value: unknown): string {
  const raw = Array.isArray(value) ? value[0] : value;
  if (Buffer.isBuffer(raw)) {
    if (raw.length !== 16) return raw.toString('hex');
    const hex = (bytes: number[]): string => bytes.map((i) => (raw[i] as number).toString(16).padStart(2, '0')).join('');
    return `${hex([3, 2, 1, 0])}-${hex([5, 4])}-${hex([7, 6])}-${hex([8, 9])}-${hex([10, 11, 12, 13, 14, 15])}`;
  }
  return typeof raw === 'string' ? raw.toLowerCase() : '';
}

function first(value: unknown): string | undefined {
  const values = all(value);
  return values[0];
}

function all(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

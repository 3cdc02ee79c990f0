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
import { Client, InvalidCredentialsError, NoSuchObjectError, type Entry } from 'ldapts';
import { DEFAULT_PRIVILEGED_ROLES, type LdapConfig } from '../config/schema.js';
import { PortcullisError } from '../errors/errors.js';
import { escapeDnValue, escapeFilterValue, fillTemplate } from './escape.js';

export interface DirectoryUser {
  dn: string;
  username: string;
  name: string;
  email: string;
  groups: string[];
  roles: string[];
  projects: string[];
  /** SPEC 16: per `attribute_mapping` key, the values of its LDAP attribute (absent: none). */
  attributes: Record<string, string[]>;
}

export type DirectoryResult = { kind: 'ok'; user: DirectoryUser } | { kind: 'invalid' };

export interface DirectoryOptions {
  /** `access.privileged_roles`: dropped from mappings unless ldap.allow_privileged_roles (default: the schema's default list). */
  privilegedRoles?: ReadonlySet<string>;
  onOperation?: (op: 'bind' | 'search' | 'connect' | 'starttls', seconds: number, ok: boolean) => void;
  logger?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

class InvalidLogin extends Error {}

export class LdapDirectory {
  private readonly config: LdapConfig;
  private readonly options: DirectoryOptions;
  private readonly urls: string[];
  private readonly tls: ConnectionOptions;
  private readonly privileged: ReadonlySet<string>;

  constructor(config: LdapConfig, options: DirectoryOptions = {}) {
    this.config = config;
    this.options = options;
    this.privileged = options.privilegedRoles ?? new Set(DEFAULT_PRIVILEGED_ROLES);
    this.urls = Array.isArray(config.url) ? config.url : [config.url];
    if (this.urls.length === 0 || this.urls.some((u) => !/^ldaps?:\/\//.test(u))) throw new TypeError('ldap.url must be ldap:// or ldaps:// URLs');
    this.tls = { rejectUnauthorized: true, minVersion: 'TLSv1.2' };
    if (config.tls_ca_file !== '') this.tls.ca = readCaFile(config.tls_ca_file);
  }

  async authenticate(username: string, password: string): Promise<DirectoryResult> {
    if (typeof username !== 'string' || typeof password !== 'string') return { kind: 'invalid' };
    if (username === '' || username.length > 256 || username.includes('\0') || username.trim() !== username) return { kind: 'invalid' };
    // Never an unauthenticated bind: an empty password is refused before any network traffic.
    if (password === '' || password.includes('\0')) return { kind: 'invalid' };
    try {
      return { kind: 'ok', user: await this.login(username, password) };
    } catch (err) {
      if (err instanceof InvalidLogin) return { kind: 'invalid' };
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
    const config = this.config;
    if (username === '' || username.length > 256 || username.includes('\0')) return false;
    const service = await this.connect().catch((err: unknown) => {
      throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: err });
    });
    try {
      if (config.bind_dn !== '') await this.timed('bind', () => service.bind(config.bind_dn, config.bind_password));
      if (config.user_dn_template !== '') {
        const dn = fillTemplate(config.user_dn_template, { username: escapeDnValue(username) });
        return (await this.readEntry(service, dn).catch((err: unknown) => (err instanceof InvalidLogin || err instanceof NoSuchObjectError ? undefined : Promise.reject(err)))) !== undefined;
      }
      const filter = fillTemplate(config.user_filter, { username: escapeFilterValue(username) });
      const { searchEntries } = await this.timed('search', () => service.search(config.user_base, { scope: 'sub', filter, sizeLimit: 1, attributes: [config.attributes.username] }));
      return searchEntries.length > 0;
    } catch (err) {
      if (err instanceof PortcullisError) throw err;
      throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: err });
    } finally {
      await service.unbind().catch(() => undefined);
    }
  }

  async ping(): Promise<void> {
    const client = await this.connect();
    try {
      if (this.config.bind_dn !== '') await this.timed('bind', () => client.bind(this.config.bind_dn, this.config.bind_password));
    } finally {
      await client.unbind().catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    // Connections are per login and closed after each; nothing is held open.
  }

  private async login(username: string, password: string): Promise<DirectoryUser> {
    const config = this.config;
    const service = await this.connect();
    // Without a service account, a DN-template login reads the entry and its groups as the user,
    // on the connection it bound (the anonymous one may read neither); closed below.
    let asUser: Client | undefined;
    try {
      if (config.bind_dn !== '') await this.timed('bind', () => service.bind(config.bind_dn, config.bind_password));
      let entry: Entry;
      let reader = service;
      if (config.user_dn_template !== '') {
        const dn = fillTemplate(config.user_dn_template, { username: escapeDnValue(username) });
        if (config.bind_dn !== '') await this.bindAs(dn, password);
        else reader = asUser = await this.boundAs(dn, password);
        entry = await this.readEntry(reader, dn);
      } else {
        const filter = fillTemplate(config.user_filter, { username: escapeFilterValue(username) });
        const { searchEntries } = await this.timed('search', () =>
          service.search(config.user_base, { scope: 'sub', filter, sizeLimit: 2, attributes: this.userAttributes() }),
        );
        if (searchEntries.length !== 1) throw new InvalidLogin();
        entry = searchEntries[0] as Entry;
        await this.bindAs(entry.dn, password);
      }
      const typed = first(entry[config.attributes.username]);
      if (typed === undefined || typed.toLowerCase() !== username.toLowerCase()) throw new InvalidLogin();
      const groups = config.group_base !== '' ? await this.groupsOf(reader, entry.dn, username) : [];
      return {
        dn: entry.dn,
        username: typed,
        name: first(entry[config.attributes.name]) ?? '',
        email: first(entry[config.attributes.email]) ?? '',
        groups,
        ...this.map(groups),
        attributes: this.mappedAttributes(entry),
      };
    } catch (err) {
      if (err instanceof InvalidLogin || err instanceof PortcullisError) throw err;
      throw new PortcullisError('directory_unavailable', 'The directory is unavailable', { cause: err });
    } finally {
      await service.unbind().catch(() => undefined);
      await asUser?.unbind().catch(() => undefined);
    }
  }

  private userAttributes(): string[] {
    const a = this.config.attributes;
    return [...new Set([a.username, a.name, a.email, ...Object.values(this.config.attribute_mapping)])];
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
      if (err instanceof InvalidCredentialsError) throw new InvalidLogin();
      throw err;
    }
  }

  private async readEntry(client: Client, dn: string): Promise<Entry> {
    const { searchEntries } = await this.timed('search', () => client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes: this.userAttributes(), sizeLimit: 1 }));
    const entry = searchEntries[0];
    if (!entry) throw new InvalidLogin();
    return entry;
  }

  private async groupsOf(client: Client, dn: string, username: string): Promise<string[]> {
    const config = this.config;
    const filter = fillTemplate(config.group_filter, { dn: escapeFilterValue(dn), username: escapeFilterValue(username) });
    const { searchEntries } = await this.timed('search', () =>
      client.search(config.group_base, { scope: 'sub', filter, attributes: [config.group_name_attribute], sizeLimit: 1000 }),
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

  private async timed<T>(op: 'bind' | 'search' | 'connect' | 'starttls', fn: () => Promise<T>): Promise<T> {
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

function first(value: unknown): string | undefined {
  const values = all(value);
  return values[0];
}

function all(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((v) => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v)));
}

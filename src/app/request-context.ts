/** Per-request facts computed once: id, client address, the host the request is for. */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { RequestContext } from '../events/types.js';
import { clientAddress, isTrusted, normaliseAddress } from '../http/client-ip.js';
import { hostOf } from '../http/host.js';

let counter = 0;
const prefix = randomBytes(6).toString('base64url');

export function newRequestId(): string {
  counter = (counter + 1) % 0x7fffffff;
  return `${prefix}-${counter.toString(36)}`;
}

export interface RequestFacts extends RequestContext {
  peer: string;
  peerTrusted: boolean;
}

export function requestFacts(req: IncomingMessage, trusted: BlockList | undefined): RequestFacts {
  const peer = normaliseAddress(req.socket.remoteAddress);
  const peerTrusted = isTrusted(trusted, peer);
  const ua = req.headers['user-agent'];
  return {
    request_id: newRequestId(),
    peer,
    peerTrusted,
    ip: peerTrusted ? clientAddress(peer, req.headers['x-forwarded-for'], trusted) : peer,
    user_agent: typeof ua === 'string' ? ua : '',
  };
}

/** The host a request is for: the name routes and rules judge, and the authority forwarded. */
export interface RequestHost {
  /** As hostOf gives it: lower-case, no port, no trailing dot; '' when the request names none. */
  name: string;
  /** `name` with the port the request named, if any: the upstream's X-Forwarded-Host, and its Host with preserve_host. */
  authority: string | undefined;
}

const NO_HOST: RequestHost = Object.freeze({ name: '', authority: undefined });

/**
 * The host a request is for, one answer for routing, the rules, /.auth/verify and what the
 * upstream is told. From a peer in server.trusted_proxies it is the first X-Forwarded-Host
 * value when there is one (the front proxy's word for what the client asked: it may have set
 * Host to the gateway's own name), else Host; from any other peer it is Host. Undefined when
 * that header is not a host name (a forwarded one that is empty included): such a request is
 * refused, never judged as host-less.
 */
export function requestHost(headers: IncomingHttpHeaders, peerTrusted: boolean): RequestHost | undefined {
  const forwarded = peerTrusted ? headers['x-forwarded-host'] : undefined;
  let header: string | undefined;
  if (typeof forwarded === 'string') {
    const comma = forwarded.indexOf(',');
    header = (comma === -1 ? forwarded : forwarded.slice(0, comma)).trim();
    if (header === '') return undefined;
  } else {
    header = headers.host;
  }
  const name = hostOf(header);
  if (name === undefined) return undefined;
  if (name === '') return NO_HOST;
  return { name, authority: name + portOf(header as string) };
}

/** `:port` of a Host value hostOf accepted, or ''. */
function portOf(header: string): string {
  const value = header.trim();
  const from = value.startsWith('[') ? value.indexOf(']') + 1 : value.indexOf(':');
  return from <= 0 || from >= value.length ? '' : value.slice(from);
}

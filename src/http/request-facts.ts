/** Per-request facts computed once: id, client address (the host the request is for: requestHost in http/host.ts). */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { BlockList } from 'node:net';
import type { RequestContext } from '../events/types.js';
import { clientAddress, isTrusted, normaliseAddress } from './client-ip.js';

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

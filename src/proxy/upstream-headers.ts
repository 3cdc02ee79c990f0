/**
 * The headers a forwarded request carries to its upstream, handed to Node as a flat list.
 *
 * The gateway builds them (HeaderPolicy.forwardHeaderList) and marks the request with them;
 * http-proxy's `common.setupOutgoing`, which every web request's options go through, then puts
 * the list in place of its copy of `req.headers`. Node's ClientRequest writes a list as it is,
 * validating each name and value once, where an object costs a `setHeader` per header (a
 * validation, a second lower-casing, a store into a dictionary-mode object and its enumeration)
 * after http-proxy's own copy of the object. The client's `req.headers` are never what the
 * upstream receives: a web request without a list is refused by the forwarder.
 */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import './http-proxy-compat.js';
import { createRequire } from 'node:module';
import type { UpstreamHeaders } from '../http/headers.js';

interface Outgoing {
  headers?: unknown;
  agent?: unknown;
}

interface HttpProxyCommon {
  setupOutgoing(outgoing: object, options: object, req: IncomingMessage, forward?: string): Outgoing;
}

const common = createRequire(import.meta.url)('http-proxy/lib/http-proxy/common.js') as HttpProxyCommon;

const UPSTREAM_HEADERS = Symbol('portcullis.upstreamHeaders');
type Marked = IncomingMessage & { [UPSTREAM_HEADERS]?: UpstreamHeaders };

/** What a marked request's `req.headers` become: nothing of the client's can be forwarded by mistake. */
const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/**
 * Marks a request with the headers its upstream receives, and empties its `req.headers` (the
 * client's), which the gateway has read by then: if http-proxy ever stopped taking the list,
 * the upstream would receive no headers rather than the client's.
 */
export function setUpstreamHeaders(req: IncomingMessage, headers: UpstreamHeaders): void {
  (req as Marked)[UPSTREAM_HEADERS] = headers;
  req.headers = NO_HEADERS;
}

export function upstreamHeadersOf(req: IncomingMessage): UpstreamHeaders | undefined {
  return (req as Marked)[UPSTREAM_HEADERS];
}

let installed = false;

/**
 * Makes http-proxy send a marked request's list (see setUpstreamHeaders) instead of its
 * headers. Only requests through a pooled agent (every route's web requests) use a list: for a
 * request without one, http-proxy's own `Connection: close` handling needs the object, and
 * such a request is not marked. Once per process (common.js is one module). Fails closed: if
 * `common.setupOutgoing` is missing or cannot be replaced, this throws, no proxy server is made
 * and the route answers 500 until this is looked at again. Were a later http-proxy to stop
 * calling it, the upstream would receive no headers at all (a marked request's are emptied),
 * never the client's; test/integration/proxy/upstream-headers.test.ts would fail.
 */
export function withUpstreamHeaderLists(): void {
  if (installed) return;
  const setup = common.setupOutgoing;
  if (typeof setup !== 'function') throw new Error('http-proxy has no common.setupOutgoing: check the upstream headers before changing http-proxy');
  common.setupOutgoing = function setupOutgoing(outgoing, options, req, forward) {
    const list = (req as Marked)[UPSTREAM_HEADERS];
    // A marked request's req.headers are empty: http-proxy's copy of them costs nothing.
    const out = setup(outgoing, options, req, forward);
    if (list === undefined) return out;
    if (!out.agent) throw new Error('a request with an upstream header list needs a pooled agent');
    out.headers = list;
    return out;
  };
  const probe = { url: '/', method: 'GET', headers: {} } as unknown as IncomingMessage;
  setUpstreamHeaders(probe, ['x-auth-user', 'alice']);
  const sent = common.setupOutgoing({}, { target: { protocol: 'http:', host: 'upstream', port: 80 }, prependPath: false, toProxy: true, agent: {} }, probe);
  if (!Array.isArray(sent.headers) || sent.headers[1] !== 'alice') {
    common.setupOutgoing = setup;
    throw new Error("http-proxy's common.setupOutgoing could not be replaced: check the upstream headers before changing http-proxy");
  }
  installed = true;
}

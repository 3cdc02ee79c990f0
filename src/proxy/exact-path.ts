/**
 * The upstream receives exactly the path the gateway matched (SPEC 5). http-proxy builds the
 * outgoing path with `common.urlJoin(targetPath, path)`, which also collapses `//` and turns
 * the first `http:/` into `http://` and the first `https:/` into `https://`: a request matched
 * and judged as `/files/http:/example.org/x` reached the backend as
 * `/files/http://example.org/x`, for web requests and WebSocket handshakes alike.
 */
import './http-proxy-compat.js';
import { createRequire } from 'node:module';

interface HttpProxyCommon {
  urlJoin(targetPath: string, path: string): string;
  setupOutgoing(outgoing: object, options: object, req: object): { path?: string };
}

const common = createRequire(import.meta.url)('http-proxy/lib/http-proxy/common.js') as HttpProxyCommon;

let exact = false;

/**
 * Makes http-proxy join a request path to an empty target path (`prependPath: false`, how every
 * route's proxy is made) by passing the path on as it is; a target with a path of its own still
 * gets http-proxy's join. This costs nothing per request: it is less work than the join it
 * replaces, and no check runs when the paths already agree. Once per process, shared by every
 * proxy server (common.js is one module). Fails closed: if http-proxy no longer builds the
 * outgoing path through `common.urlJoin`, this throws, no proxy server is made and the route
 * answers 500 until this is looked at again.
 */
export function withExactUpstreamPaths(): void {
  if (exact) return;
  const join = common.urlJoin;
  if (typeof join !== 'function' || typeof common.setupOutgoing !== 'function') throw new Error('http-proxy has no common.urlJoin: check the upstream path before changing http-proxy');
  common.urlJoin = (targetPath, path) => (targetPath === '' ? path : join(targetPath, path));
  const probe = '/files/http:/example.org/https:/x?q=http:/y';
  const outgoing = common.setupOutgoing({}, { target: { protocol: 'http:', host: 'upstream', port: 80 }, prependPath: false, toProxy: true, agent: {} }, { url: probe, method: 'GET', headers: {} });
  if (outgoing.path !== probe) {
    common.urlJoin = join;
    throw new Error('http-proxy rewrites the upstream path without common.urlJoin: check the upstream path before changing http-proxy');
  }
  exact = true;
}

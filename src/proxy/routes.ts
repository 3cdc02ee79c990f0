/** Route selection: exact Host (when set) and the longest path prefix on a segment boundary. */
import type { RouteConfig } from '../config/schema.js';
import { configuredHost } from '../http/host.js';

export interface CompiledRoute {
  config: RouteConfig;
  name: string;
  host: string;
  prefix: string;
  /** The Host header the upstream receives unless the route has preserve_host. */
  upstreamHost: string;
}

export class RouteTable {
  private readonly routes: CompiledRoute[];

  constructor(routes: RouteConfig[]) {
    this.routes = routes
      .map((config) => ({
        config,
        name: config.name,
        host: configuredHost(config.host),
        prefix: config.path_prefix.replace(/\/+$/, ''),
        upstreamHost: config.upstream.startsWith('builtin:') ? '' : new URL(config.upstream).host,
      }))
      // Host-specific routes first, then longer prefixes first.
      .sort((a, b) => Number(b.host !== '') - Number(a.host !== '') || b.prefix.length - a.prefix.length);
  }

  /** `host` lower-case without port; `path` normalised. */
  match(host: string, path: string): CompiledRoute | undefined {
    for (const route of this.routes) {
      if (route.host !== '' && route.host !== host) continue;
      if (route.prefix === '' || path === route.prefix || path.startsWith(route.prefix + '/')) return route;
    }
    return undefined;
  }

  /** The path the upstream receives. */
  static upstreamPath(route: CompiledRoute, path: string): string {
    if (!route.config.strip_prefix || route.prefix === '') return path;
    const rest = path.slice(route.prefix.length);
    return rest === '' ? '/' : rest;
  }
}

/** Prometheus metrics of one app instance: a registry per app, never the global one. */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  logins: Counter<'user_type' | 'result' | 'reason'>;
  requests: Counter<'route' | 'rule' | 'status'>;
  requestDuration: Histogram<'route'>;
  upstreamErrors: Counter<'route' | 'kind'>;
  ldapDuration: Histogram<'op'>;
  cacheRequests: Counter<'cache' | 'result'>;
  accessDenied: Counter<'rule' | 'reason'>;
  /** Hot-path shortcuts: counted without prom-client's per-call label hashing (see deferredCounts). */
  countRequest(route: string, rule: string, status: number): void;
  observeDuration(route: string, seconds: number): void;
  countCache(cache: string, result: 'hit' | 'miss'): void;
}

/** Label children looked up once per key and reused. */
function children<C>(make: (key: string) => C): (key: string) => C {
  const made = new Map<string, C>();
  return (key) => {
    let child = made.get(key);
    if (child === undefined) {
      child = make(key);
      made.set(key, child);
    }
    return child;
  };
}

/**
 * Per-request counts kept as plain numbers per label set (key: the label values joined by NUL)
 * and added to the prom-client counter whenever it is read — a scrape or get() runs the
 * counter's collect(). prom-client hashes and validates the labels on every inc(), even through
 * a label child; this way a request pays for one Map lookup and an addition. The label sets are
 * the counter's own, so this holds no more than prom-client would.
 */
function deferredCounts(labelNames: readonly string[]): { add(key: string): void; flushInto(counter: Counter<string>): void } {
  const cells = new Map<string, { labels: Record<string, string>; pending: number }>();
  return {
    add(key) {
      let cell = cells.get(key);
      if (cell === undefined) {
        const values = key.split('\u0000');
        cell = { labels: Object.fromEntries(labelNames.map((name, i) => [name, values[i] ?? ''])), pending: 0 };
        cells.set(key, cell);
      }
      cell.pending++;
    },
    flushInto(counter) {
      for (const cell of cells.values()) {
        if (cell.pending === 0) continue;
        counter.inc(cell.labels, cell.pending);
        cell.pending = 0;
      }
    },
  };
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'portcullis_' });
  const pendingRequests = deferredCounts(['route', 'rule', 'status']);
  const pendingCache = deferredCounts(['cache', 'result']);
  const requests = new Counter({
    name: 'portcullis_requests_total',
    help: 'Requests answered, by route, rule and status',
    labelNames: ['route', 'rule', 'status'] as const,
    registers: [registry],
    collect() {
      pendingRequests.flushInto(this);
    },
  });
  const requestDuration = new Histogram({
    name: 'portcullis_request_duration_seconds',
    help: 'Gateway-side total request duration',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const cacheRequests = new Counter({
    name: 'portcullis_cache_requests_total',
    help: 'Cache lookups',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
    collect() {
      pendingCache.flushInto(this);
    },
  });
  const durationChild = children((route) => requestDuration.labels(route));
  return {
    registry,
    requests,
    requestDuration,
    cacheRequests,
    countRequest: (route, rule, status) => pendingRequests.add(`${route}\u0000${rule}\u0000${status}`),
    observeDuration: (route, seconds) => durationChild(route).observe(seconds),
    countCache: (cache, result) => pendingCache.add(`${cache}\u0000${result}`),
    logins: new Counter({ name: 'portcullis_logins_total', help: 'Credential verifications against their source', labelNames: ['user_type', 'result', 'reason'], registers: [registry] }),
    upstreamErrors: new Counter({ name: 'portcullis_upstream_errors_total', help: 'Upstream failures', labelNames: ['route', 'kind'], registers: [registry] }),
    ldapDuration: new Histogram({
      name: 'portcullis_ldap_operation_duration_seconds',
      help: 'LDAP operation duration',
      labelNames: ['op'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    accessDenied: new Counter({ name: 'portcullis_access_denied_total', help: 'Requests refused by access rules', labelNames: ['rule', 'reason'], registers: [registry] }),
  };
}

/** Prometheus metrics of one app instance: a registry per app, never the global one. */
import { Counter, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

export interface Metrics {
  registry: Registry;
  logins: Counter<'user_type' | 'result' | 'reason'>;
  requests: Counter<'route' | 'rule' | 'status'>;
  requestDuration: RouteDurations;
  upstreamErrors: Counter<'route' | 'kind'>;
  ldapDuration: Histogram<'op'>;
  cacheRequests: Counter<'cache' | 'result'>;
  accessDenied: Counter<'rule' | 'reason'>;
  /** Events a sink did not get: `suppressed` (per-client failure bound: logged, not stored or sent), `webhook_queue_full`. */
  eventsDropped: Counter<'event' | 'reason'>;
  /** Hot-path shortcuts: counted without prom-client's per-call label hashing (see deferredCounts). */
  countRequest(route: string, rule: string, status: number): void;
  observeDuration(route: string, seconds: number): void;
  countCache(cache: string, result: 'hit' | 'miss'): void;
}

/**
 * Per-request counts kept as plain numbers per label set and added to the prom-client counter
 * whenever it is read — a scrape or get() runs the counter's collect(). prom-client hashes and
 * validates the labels on every inc(), even through a label child; here a request pays for one
 * Map lookup per label (the label values are the caller's own strings and numbers, so no key is
 * built) and an addition. The label sets are the counter's own, so this holds no more than
 * prom-client would.
 */
interface Cell {
  labels: Record<string, string>;
  pending: number;
}
type Level = Map<string | number, Level | Cell>;

function deferredCounts(labelNames: readonly string[]): {
  add2(a: string, b: string | number): void;
  add3(a: string, b: string, c: string | number): void;
  flushInto(counter: Counter<string>): void;
} {
  const root: Level = new Map();
  const cells: Cell[] = [];
  const created = (values: ReadonlyArray<string | number>): Cell => {
    let level = root;
    for (let i = 0; i < values.length - 1; i++) {
      let next = level.get(values[i] as string | number) as Level | undefined;
      if (next === undefined) {
        next = new Map();
        level.set(values[i] as string | number, next);
      }
      level = next;
    }
    const cell: Cell = { labels: Object.fromEntries(labelNames.map((name, i) => [name, String(values[i])])), pending: 0 };
    level.set(values[values.length - 1] as string | number, cell);
    cells.push(cell);
    return cell;
  };
  return {
    add2(a, b) {
      const cell = (root.get(a) as Level | undefined)?.get(b) as Cell | undefined;
      (cell ?? created([a, b])).pending++;
    },
    add3(a, b, c) {
      const cell = ((root.get(a) as Level | undefined)?.get(b) as Level | undefined)?.get(c) as Cell | undefined;
      (cell ?? created([a, b, c])).pending++;
    },
    flushInto(counter) {
      for (const cell of cells) {
        if (cell.pending === 0) continue;
        counter.inc(cell.labels, cell.pending);
        cell.pending = 0;
      }
    },
  };
}

/** One sample line as prom-client's Registry renders it. */
interface SampleValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * `portcullis_request_duration_seconds`, by route: a histogram kept as plain bucket counts per
 * route and rendered by the registry like any prom-client histogram (buckets with `le`, then
 * `_sum` and `_count`). A prom-client Histogram validates and hashes its labels on every
 * observe(); this costs one Map lookup and a bucket search per request.
 */
export class RouteDurations {
  readonly name = 'portcullis_request_duration_seconds';
  readonly help = 'Gateway-side total request duration';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly bounds: readonly number[];
  /** Per route: counts[i] requests took at most bounds[i] (not cumulative); the last cell is +Inf. */
  private readonly series = new Map<string, { counts: number[]; sum: number; count: number }>();

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
  }

  observe(route: string, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    let cell = this.series.get(route);
    if (cell === undefined) {
      cell = { counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
      this.series.set(route, cell);
    }
    let i = 0;
    while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
    cell.counts[i] = (cell.counts[i] as number) + 1;
    cell.sum += seconds;
    cell.count += 1;
  }

  /** What prom-client's Registry reads from a metric. */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: SampleValue[] }> {
    const values: SampleValue[] = [];
    for (const [route, cell] of this.series) {
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += cell.counts[i] as number;
        values.push({ labels: { le: this.bounds[i] as number, route }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', route }, value: cell.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { route }, value: cell.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { route }, value: cell.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values });
  }

  reset(): void {
    this.series.clear();
  }
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
  const requestDuration = new RouteDurations([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  registry.registerMetric(requestDuration as unknown as Metric);
  const cacheRequests = new Counter({
    name: 'portcullis_cache_requests_total',
    help: 'Cache lookups',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
    collect() {
      pendingCache.flushInto(this);
    },
  });
  return {
    registry,
    requests,
    requestDuration,
    cacheRequests,
    countRequest: (route, rule, status) => pendingRequests.add3(route, rule, status),
    observeDuration: (route, seconds) => requestDuration.observe(route, seconds),
    countCache: (cache, result) => pendingCache.add2(cache, result),
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
    eventsDropped: new Counter({
      name: 'portcullis_events_dropped_total',
      help: 'Events logged but not stored or not sent, by type and reason (suppressed: past the per-client failure bound; webhook_queue_full: per webhook)',
      labelNames: ['event', 'reason'],
      registers: [registry],
    }),
  };
}

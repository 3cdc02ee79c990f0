import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetrics } from '../../../src/observability/metrics.js';

describe('request and cache counters', () => {
  test('counts every request once, however often the registry is read', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    for (let i = 0; i < 3; i++) metrics.countRequest('app', 'staff', 200);
    metrics.countRequest('app', 'staff', 403);
    let text = await metrics.registry.metrics();
    assert.match(text, /portcullis_requests_total\{route="app",rule="staff",status="200"\} 3\n/);
    assert.match(text, /portcullis_requests_total\{route="app",rule="staff",status="403"\} 1\n/);
    text = await metrics.registry.metrics();
    assert.match(text, /status="200"\} 3\n/, 'a second scrape adds nothing');
    metrics.countRequest('app', 'staff', 200);
    metrics.countRequest('app', 'staff', 200);
    assert.match(await metrics.registry.metrics(), /status="200"\} 5\n/);
  });

  test('cache lookups are counted by cache and result, also through get()', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.countCache('session', 'hit');
    metrics.countCache('session', 'hit');
    metrics.countCache('user', 'miss');
    const values = (await metrics.cacheRequests.get()).values.map((v) => [v.labels.cache, v.labels.result, v.value]);
    assert.deepEqual(values.sort(), [
      ['session', 'hit', 2],
      ['user', 'miss', 1],
    ]);
  });
});

describe('request duration histogram', () => {
  test('renders cumulative buckets, +Inf, sum and count per route as Prometheus expects', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeDuration('app', 0.001);
    metrics.observeDuration('app', 0.003);
    metrics.observeDuration('app', 20);
    metrics.observeDuration('app', Number.NaN);
    metrics.observeDuration('other', 0.0001);
    const text = await metrics.registry.metrics();
    assert.match(text, /# TYPE portcullis_request_duration_seconds histogram\n/);
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="0\.001",route="app"\} 1\n/, 'a bound is inclusive');
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="0\.0025",route="app"\} 1\n/);
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="0\.005",route="app"\} 2\n/);
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="10",route="app"\} 2\n/);
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="\+Inf",route="app"\} 3\n/);
    assert.match(text, /portcullis_request_duration_seconds_sum\{route="app"\} 20\.004\n/);
    assert.match(text, /portcullis_request_duration_seconds_count\{route="app"\} 3\n/, 'a value that is not a number is not counted');
    assert.match(text, /portcullis_request_duration_seconds_count\{route="other"\} 1\n/);
    const json = await metrics.registry.getMetricsAsJSON();
    assert.ok(json.some((m) => m.name === 'portcullis_request_duration_seconds' && String(m.type) === 'histogram'));
  });
});

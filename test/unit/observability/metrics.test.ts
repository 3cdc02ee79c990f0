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
    assert.deepEqual(values.sort(), [['session', 'hit', 2], ['user', 'miss', 1]]);
  });
});

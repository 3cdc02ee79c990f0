import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway } from '../../helpers/gateway.js';

// prom-client's default metrics sample the event loop every 10 ms, which an idle gateway pays for
// with 17–26 ms of CPU a second: they are collected when a metrics listener serves them, and only then.
test('default process metrics are served with a metrics listener and not collected without one', async () => {
  const served = await startGateway({ processMetrics: true });
  try {
    const text = await (await fetch(`${served.metricsUrl}/metrics`)).text();
    assert.match(text, /^portcullis_process_cpu_user_seconds_total \d/m);
    assert.match(text, /^portcullis_nodejs_eventloop_lag_seconds \d/m);
    assert.match(text, /^portcullis_requests_total|# TYPE portcullis_requests_total counter/m);
  } finally {
    await served.close();
  }
  const unserved = await startGateway({ processMetrics: true, config: { metrics: { listen: '' } } });
  try {
    assert.equal(unserved.metricsUrl, undefined);
    const text = await unserved.registry.metrics.registry.metrics();
    assert.doesNotMatch(text, /portcullis_process_|portcullis_nodejs_/);
    assert.match(text, /# TYPE portcullis_requests_total counter/, "the gateway's own metrics are still kept");
  } finally {
    await unserved.close();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, toMs } from '../../../bench/wrk.js';

test('parses wrk --latency output into requests/s and percentiles', () => {
  const output = `Running 5s test @ http://127.0.0.1:1/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms  500.00us  20.00ms   90.00%
    Req/Sec    15.2k     1.1k   17.0k    70.00%
  Latency Distribution
     50%    1.95ms
     75%    2.20ms
     90%    2.60ms
     99%    4.10ms
  75600 requests in 5.00s, 12.00MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  15120.00
Transfer/sec:      2.40MB
`;
  const result = parseWrk(output);
  assert.equal(result.requestsPerSecond, 15120);
  assert.equal(result.requests, 75600);
  assert.equal(result.p50Ms, 1.95);
  assert.equal(result.p99Ms, 4.1);
  assert.equal(result.non2xx, 3);
  assert.throws(() => parseWrk('garbage'));
});

test('converts wrk time units to milliseconds', () => {
  assert.equal(toMs('500.00us'), 0.5);
  assert.equal(toMs('1.50s'), 1500);
  assert.ok(Number.isNaN(toMs('x')));
});

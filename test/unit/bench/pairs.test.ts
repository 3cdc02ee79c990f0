import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pairList, ratioRange, type Pair } from '../../../bench/pairs.js';
import { percentile } from '../../../bench/stats.js';

const pairOf = (referenceUs: number, gatewayUs: number): Pair => ({ referenceUs, gatewayUs, cpuRatio: gatewayUs / referenceUs, rpsRatio: referenceUs / gatewayUs });

test('the median of the pairs (percentile 50) is their middle value, whatever their order', () => {
  const median = (values: number[]): number => percentile(values, 50);
  assert.equal(median([1.3, 1.05, 1.1]), 1.1);
  assert.equal(median([1.1, 1.3, 1.05]), 1.1);
  // Of two middles the upper one: a target is not passed on the kinder of two readings.
  assert.equal(median([1.2, 1.0]), 1.2);
  assert.equal(median([1.0, 1.1, 1.2, 1.3]), 1.2);
});

test('a scenario reports the spread of its pairs and each pair', () => {
  const list = [pairOf(200, 220), pairOf(190, 200), pairOf(210, 240)];
  assert.equal(ratioRange(list.map((p) => p.cpuRatio)), '1.05–1.14×');
  assert.equal(pairList(list), '200 → 220 (1.10); 190 → 200 (1.05); 210 → 240 (1.14)');
});

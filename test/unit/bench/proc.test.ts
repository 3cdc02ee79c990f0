import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soakMemory } from '../../../bench/proc.js';

test('soak growth compares the peak of the first third with the peak of the last third', () => {
  // V8's heap cycle: the single readings at either end would read -20 %, the peaks 0 %.
  const cycling = [150, 170, 130, 140, 170, 160, 130, 150, 170, 120];
  const memory = soakMemory(cycling);
  assert.equal(memory.first, 150);
  assert.equal(memory.last, 120);
  assert.equal(memory.min, 120);
  assert.equal(memory.max, 170);
  assert.equal(memory.earlyPeak, 170);
  assert.equal(memory.latePeak, 170);
  assert.equal(memory.growth, 0);
});

test('a leak raises the late peak', () => {
  const leaking = [100, 110, 105, 120, 130, 125, 140, 150, 145];
  const memory = soakMemory(leaking);
  assert.equal(memory.earlyPeak, 110);
  assert.equal(memory.latePeak, 150);
  assert.ok(Math.abs(memory.growth - 36.36) < 0.01);
});

test('no readings is an error, not a growth of zero', () => {
  assert.throws(() => soakMemory([]), /no RSS readings/);
});

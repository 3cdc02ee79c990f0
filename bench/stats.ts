/** Order statistics for the bench's reports. */

/**
 * The value at percentile `p` of `values` (nearest rank, rounding up: of two middles, p 50 is the
 * upper one, so a target is not passed on the kinder of two readings).
 */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

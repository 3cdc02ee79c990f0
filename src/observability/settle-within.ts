/**
 * Waiting on something with a deadline: the readiness probe's store ping, shutdown's cleanup,
 * the store's close and the event bus's drain each give up on a promise that may never settle.
 *
 * It lives in observability/ because that is the lowest rank every caller may import (app/,
 * store/ and events/ alike: store/ only reaches config, errors, events and observability), and
 * those waits are what keeps a probe or a shutdown from hanging unnoticed.
 */

/**
 * Waits for `promise` to settle, at most `ms`: 'done' when it settled in time (fulfilled or
 * rejected: a caller that needs the outcome awaits the promise itself afterwards), 'late' when
 * the time ran out first. The timer never keeps the process alive and is cleared as soon as the
 * promise settles; a promise that rejects after 'late' is no unhandled rejection.
 */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<'done' | 'late'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms);
    timer.unref();
  });
  const done = promise.then(
    () => 'done' as const,
    () => 'done' as const,
  );
  try {
    return await Promise.race([done, late]);
  } finally {
    clearTimeout(timer);
  }
}

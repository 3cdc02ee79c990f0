/**
 * Helpers for the per-request path. Credentials already verified are answered from the
 * in-process caches without waiting: each cache offers a synchronous lookup that returns MISS
 * when only the store, the directory or a signature check can answer, and the asynchronous
 * lookup starts with that same synchronous one. An answer that needs no waiting then costs no
 * promise and no microtask hop (see docs/benchmarks.md).
 */
import * as crypto from 'node:crypto';

export const MISS: unique symbol = Symbol('portcullis.miss');
export type Miss = typeof MISS;

type OneShotHash = (algorithm: string, data: string, encoding: 'base64url') => string;
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

/** SHA-256 as base64url; crypto.hash where Node has it (20.12+), without a Hash stream object. */
export function sha256(data: string): string {
  return oneShot ? oneShot('sha256', data, 'base64url') : crypto.createHash('sha256').update(data).digest('base64url');
}

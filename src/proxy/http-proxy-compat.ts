/**
 * http-proxy 1.18 (its last release) takes `require('util')._extend` when it is loaded and calls
 * it for every request's options; Node 22 and later report that function as deprecated
 * (DEP0060) the first time it runs. This module, imported before http-proxy wherever http-proxy
 * is imported, puts a plain implementation of the same contract in `util._extend`: the own
 * enumerable keys of `source` copied onto `target`, which is returned (nothing copied when
 * `source` is not an object). Node's public `util` object is changed, not http-proxy's files, and
 * nothing else in the gateway reads `util._extend`.
 */
import util from 'node:util';

export function portcullisExtend<T extends object>(target: T, source: unknown): T {
  if (source === null || typeof source !== 'object') return target;
  for (const key of Object.keys(source)) (target as Record<string, unknown>)[key] = (source as Record<string, unknown>)[key];
  return target;
}

Object.defineProperty(util, '_extend', { value: portcullisExtend, writable: true, configurable: true, enumerable: false });
if ((util as unknown as { _extend: unknown })._extend !== portcullisExtend) throw new Error('util._extend could not be replaced: http-proxy would call the deprecated one');

/**
 * OpenSockets fails closed: a re-check that cannot be done is retried until it can, and a
 * credential past its expiry is not kept open on the store's silence. No I/O: in-memory
 * duplex streams stand for the sockets, an injected clock for time, and the re-check is a
 * function whose answers the test chooses (the real one, SocketGrants, reads the store).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import type { GrantVerdict, SocketGrant } from '../../../src/authn/socket-grants.js';
import { createLogger } from '../../../src/observability/logger.js';
import { OpenSockets } from '../../../src/proxy/open-sockets.js';

function socket(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _enc, done) {
      done();
    },
  });
}

const until = async (check: () => boolean, ms = 2000): Promise<void> => {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

function harness(answer: (grant: SocketGrant) => GrantVerdict | Error) {
  let now = 1_000_000;
  const logs: string[] = [];
  const calls: SocketGrant[] = [];
  const sockets = new OpenSockets({
    now: () => now,
    logger: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    tickMs: 10,
    recheck: async (grants) => {
      calls.push(...grants);
      const verdicts = grants.map(answer);
      const failed = verdicts.find((v) => v instanceof Error);
      if (failed) throw failed;
      return verdicts as GrantVerdict[];
    },
  });
  return { sockets, logs, calls, advance: (ms: number) => (now += ms), now: () => now };
}

const grant = (over: Partial<SocketGrant> = {}): SocketGrant => ({ username: 'alice', authVersion: 1, userCreatedAt: 1, expiresAt: Infinity, ...over });

test('a re-check the store cannot answer keeps the socket, is logged, and is retried until it can end it', async () => {
  let storeDown = true;
  const h = harness(() => (storeDown ? new Error('store down') : { alive: false, reason: 'user_disabled' }));
  const client = socket();
  const upstream = socket();
  h.sockets.attach(h.sockets.track(grant(), client), upstream);
  await until(() => h.calls.length >= 3);
  assert.equal(client.destroyed, false, 'kept while the answer is unknown');
  assert.ok(h.logs.some((line) => line.includes('re-check failed')));
  storeDown = false;
  await until(() => client.destroyed && upstream.destroyed);
  assert.equal(h.sockets.size, 0);
  h.sockets.close();
});

test('a credential past its expiry closes its socket even when the store cannot be asked', async () => {
  const h = harness((g) => (h.now() >= g.expiresAt ? new Error('store down') : { alive: true, expiresAt: g.expiresAt }));
  const client = socket();
  h.sockets.track(grant({ expiresAt: h.now() + 5_000 }), client);
  await until(() => h.calls.length >= 1);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(client.destroyed, false, 'not expired yet');
  h.advance(5_000);
  await until(() => client.destroyed);
  assert.equal(h.sockets.size, 0);
  h.sockets.close();
});

test('a change arriving during a re-check is checked again afterwards, not lost', async () => {
  let version = 1;
  const h = harness((g) => (g.authVersion === version ? { alive: true, expiresAt: Infinity } : { alive: false, reason: 'user_changed' }));
  const client = socket();
  h.sockets.track(grant(), client);
  // The tracking's own re-check is in flight: the change lands while it is.
  version = 2;
  h.sockets.changed({ kind: 'user', key: 'alice' });
  await until(() => client.destroyed);
  assert.ok(h.calls.length >= 2);
  h.sockets.close();
});

test('a socket upgraded without a credential is never re-checked nor closed by changes', async () => {
  const h = harness(() => ({ alive: false, reason: 'user_deleted' }));
  const client = socket();
  // No grant to re-check: a socket of an unauthenticated (public) route.
  h.sockets.track(undefined, client);
  h.sockets.changed({ kind: 'user', key: '*' });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(client.destroyed, false);
  assert.equal(h.calls.length, 0);
  client.destroy();
  await until(() => h.sockets.size === 0);
  h.sockets.close();
});

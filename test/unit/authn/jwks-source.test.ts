import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { JWKS_FIRST_BACKOFF_MS, JwksSource } from '../../../src/authn/jwks-source.js';

/** A JWKS endpoint twin: counts fetches, answers 503 while down, else the published keys. */
class Endpoint {
  fetches = 0;
  down = true;
  keys: JWK[] = [];
  /** While set, a fetch waits for it (a slow endpoint). */
  hold: Promise<void> | undefined;
  readonly fetch = (async () => {
    this.fetches++;
    if (this.hold) await this.hold;
    if (this.down) return new Response('down', { status: 503 });
    return new Response(JSON.stringify({ keys: this.keys }), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;
}

const header = { alg: 'RS256', kid: 'p1' };
const token = { payload: '', signature: '' } as never;

function source(endpoint: Endpoint, clock: { now: number }, errors: string[] = []): JwksSource {
  return new JwksSource({ url: 'https://portal.example.org/jwks.json', timeoutMs: 2000, cooldownMs: 30_000, now: () => clock.now, fetch: endpoint.fetch, onError: (m) => errors.push(m) });
}

/** Resolves a key for the header, or the message it was refused with. */
async function keyOrRefusal(jwks: JwksSource, kid = 'p1'): Promise<string> {
  try {
    await jwks.getKey({ ...header, kid }, token);
    return 'key';
  } catch (err) {
    return (err as Error).message;
  }
}

describe('a JWKS endpoint that has never answered with keys', () => {
  test('forged tokens fetch it once and are then refused at once, without a fetch, until the backoff has passed', async () => {
    const endpoint = new Endpoint();
    const clock = { now: 1_700_000_000_000 };
    const errors: string[] = [];
    const jwks = source(endpoint, clock, errors);
    for (let i = 0; i < 200; i++) assert.equal(await keyOrRefusal(jwks, `k${i}`), 'issuer keys unavailable');
    assert.equal(endpoint.fetches, 1, 'the first token fetches at once, the other 199 do not');
    assert.equal(errors.length, 1, 'one warning per failed fetch, not per token');
    clock.now += JWKS_FIRST_BACKOFF_MS - 1;
    assert.equal(await keyOrRefusal(jwks), 'issuer keys unavailable');
    assert.equal(endpoint.fetches, 1);
    clock.now += 1;
    assert.equal(await keyOrRefusal(jwks), 'issuer keys unavailable');
    assert.equal(endpoint.fetches, 2, 'after the backoff one token fetches again');
  });

  test('the backoff doubles from 1 s after each failed fetch, up to jwks_cooldown', async () => {
    const endpoint = new Endpoint();
    const clock = { now: 1_700_000_000_000 };
    const jwks = source(endpoint, clock);
    await keyOrRefusal(jwks);
    const waits: number[] = [];
    for (let round = 0; round < 7; round++) {
      const before = endpoint.fetches;
      let waited = 0;
      // Step a second at a time, trying a token each time, until one fetches.
      while (endpoint.fetches === before) {
        clock.now += 1000;
        waited += 1000;
        await keyOrRefusal(jwks);
        assert.ok(waited <= 60_000, 'a fetch happens again eventually');
      }
      waits.push(waited);
    }
    assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  test('tokens arriving during the first fetch wait for it and share it', async () => {
    const endpoint = new Endpoint();
    let answer: () => void = () => undefined;
    endpoint.hold = new Promise((resolve) => (answer = resolve));
    const jwks = source(endpoint, { now: 1_700_000_000_000 });
    const waiting = Array.from({ length: 20 }, () => keyOrRefusal(jwks));
    answer();
    assert.deepEqual(new Set(await Promise.all(waiting)), new Set(['issuer keys unavailable']));
    assert.equal(endpoint.fetches, 1);
  });

  test('keys published after an outage load at the next due fetch; from then on the cooldown governs and the last good keys are kept', async () => {
    const endpoint = new Endpoint();
    const clock = { now: 1_700_000_000_000 };
    const jwks = source(endpoint, clock);
    const pair = await generateKeyPair('RS256', { extractable: true });
    endpoint.keys = [{ ...(await exportJWK(pair.publicKey)), kid: 'p1', alg: 'RS256' }];
    assert.equal(await keyOrRefusal(jwks), 'issuer keys unavailable');
    clock.now += JWKS_FIRST_BACKOFF_MS;
    assert.equal(await keyOrRefusal(jwks), 'issuer keys unavailable');
    endpoint.down = false;
    clock.now += 2 * JWKS_FIRST_BACKOFF_MS;
    assert.equal(await keyOrRefusal(jwks), 'key');
    assert.equal(endpoint.fetches, 3);
    // Keys loaded: a known kid never fetches; an unknown one at most once per cooldown.
    assert.equal(await keyOrRefusal(jwks), 'key');
    assert.equal(endpoint.fetches, 3);
    endpoint.down = true;
    assert.notEqual(await keyOrRefusal(jwks, 'p2'), 'key');
    assert.equal(endpoint.fetches, 3, 'an unknown kid within the cooldown does not fetch');
    clock.now += 30_000;
    assert.notEqual(await keyOrRefusal(jwks, 'p2'), 'key');
    assert.equal(endpoint.fetches, 4);
    assert.equal(await keyOrRefusal(jwks), 'key', 'the last good keys are kept through the outage');
  });
});

/**
 * External JWTs (SPEC 3) while an issuer's JWKS endpoint is down and no keys were ever loaded:
 * every token naming the issuer is refused (401, fail closed), and the endpoint is fetched once
 * and then not again before a backoff, however many tokens arrive — a forged token must not
 * turn into an outbound request to the identity provider.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

let gw: TestGateway;
let fetches = 0;
const jwks = createServer((_req, res) => {
  fetches++;
  res.writeHead(503, { 'content-type': 'text/plain' });
  res.end('down');
});

before(async () => {
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  const port = (jwks.address() as AddressInfo).port;
  gw = await startGateway({
    config: {
      jwt_issuers: [
        {
          name: 'portal',
          issuer: 'https://portal.example.org',
          audience: 'portcullis',
          algorithms: ['RS256'],
          jwks_url: `http://127.0.0.1:${port}/jwks.json`,
          jwks_cooldown: '30s',
          jwks_timeout: '2s',
        },
      ],
    },
  });
});
after(async () => {
  await gw?.close();
  jwks.closeAllConnections();
  await new Promise<void>((resolve) => jwks.close(() => resolve()));
});

/** A token naming the issuer, signed by nobody: its signature is never checked for lack of keys. */
function forgedJwt(i: number): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'RS256', kid: `k${i}` })}.${b64({ iss: 'https://portal.example.org', aud: 'portcullis', sub: 'x', exp: now + 60, iat: now })}.${Buffer.from('sig').toString('base64url')}`;
}

test('forged tokens for an issuer whose JWKS endpoint is down are refused and fetch the JWKS once, not once each', async () => {
  const started = Date.now();
  for (let i = 0; i < 200; i++) {
    const res = await gw.fetch('/anything', { headers: { authorization: `Bearer ${forgedJwt(i)}` } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
  }
  // One fetch at the first token; a second at most if the 200 requests outlast the first 1 s backoff.
  const allowed = Date.now() - started >= 1000 ? 2 : 1;
  assert.ok(fetches <= allowed, `200 forged tokens made ${fetches} JWKS fetches`);
  assert.ok(gw.events.filter((e) => e.event === 'UserLoginFailed').every((e) => e.reason === 'invalid_token'));
});

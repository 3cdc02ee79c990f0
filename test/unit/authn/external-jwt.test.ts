import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { jwtIssuerSchema } from '../../../src/config/schema.js';
import { ExternalJwtVerifier } from '../../../src/authn/external-jwt.js';

describe('external JWT verification', () => {
  let server: Server;
  let url: string;
  let fetches = 0;
  let failing = false;
  let published: JWK[] = [];
  let portal: { privateKey: CryptoKey; publicKey: CryptoKey };
  let other: { privateKey: CryptoKey; publicKey: CryptoKey };
  let now = Date.now();

  before(async () => {
    portal = await generateKeyPair('RS256', { extractable: true });
    other = await generateKeyPair('RS256', { extractable: true });
    published = [{ ...(await exportJWK(portal.publicKey)), kid: 'p1', alg: 'RS256' }];
    server = createServer((_req, res) => {
      fetches++;
      if (failing) {
        res.writeHead(500);
        res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const verifier = (extra: Record<string, unknown> = {}): ExternalJwtVerifier =>
    new ExternalJwtVerifier(
      [
        jwtIssuerSchema.parse({ name: 'portal', issuer: 'https://portal', audience: 'pcl', algorithms: ['RS256'], jwks_url: url, jwks_cooldown: '30s', ...extra }),
        jwtIssuerSchema.parse({ name: 'lab', issuer: 'https://lab', audience: 'pcl', algorithms: ['HS256'], secret: 'x'.repeat(40) }),
      ],
      { now: () => now },
    );
  const sign = (
    claims: Record<string, unknown>,
    header: Record<string, unknown> = {},
    key: CryptoKey = portal.privateKey,
    opts: { iat?: number; exp?: number | null; iss?: string } = {},
  ): Promise<string> => {
    const t = Math.floor(now / 1000);
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'p1', ...header })
      .setIssuer(opts.iss ?? 'https://portal')
      .setAudience('pcl')
      .setIssuedAt(opts.iat ?? t);
    if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? t + 600);
    return jwt.sign(key);
  };
  const reason = async (v: ExternalJwtVerifier, token: string): Promise<string> => {
    const r = await v.verify(token);
    return r.kind === 'failed' ? r.reason : r.kind;
  };

  test('accepts a valid token and maps claims, dot paths included', async () => {
    const v = verifier({ roles_claim: 'realm_access.roles' });
    const r = await v.verify(await sign({ sub: 'ann', realm_access: { roles: ['user'] }, projects: ['p'], name: 'Ann', email: 'a@x' }));
    assert.equal(r.kind, 'ok');
    assert.deepEqual(r.kind === 'ok' && r.claims, { username: 'ann', name: 'Ann', email: 'a@x', roles: ['user'], projects: ['p'], attributes: {}, exp: Math.floor(now / 1000) + 600 });
  });

  test('reads attributes_claims leniently: a string is one value, a list keeps its strings, anything else is dropped', async () => {
    const v = verifier({ attributes_claims: { machines: 'gmt.machines', retention_days: 'retention', opts: 'opts', absent: 'nope' } });
    const r = await v.verify(await sign({ sub: 'ann', gmt: { machines: ['7', 9, '', '9'] }, retention: '365', opts: { cpu: true } }));
    assert.deepEqual(r.kind === 'ok' && r.claims.attributes, { machines: ['7', '9'], retention_days: ['365'] });
  });

  test('key-carrying headers never select a key: jwk with the attacker’s own key, jku, x5u, x5c', async () => {
    const v = verifier();
    const attackerJwk = await exportJWK(other.publicKey);
    assert.equal(await reason(v, await sign({ sub: 'x' }, { jwk: attackerJwk }, other.privateKey)), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, { jku: 'http://evil/jwks' })), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, { x5u: 'http://evil/cert' })), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, { x5c: ['MIIB'] })), 'invalid_token');
  });

  test('a token signed by another key, or naming another issuer’s kid, fails', async () => {
    const v = verifier();
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, other.privateKey)), 'invalid_token');
    const hs = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'p1' })
      .setIssuer('https://portal')
      .setAudience('pcl')
      .setExpirationTime(Math.floor(now / 1000) + 60)
      .sign(new TextEncoder().encode('x'.repeat(40)));
    assert.equal(await reason(v, hs), 'invalid_token', 'the lab secret does not verify portal tokens');
  });

  test('exp is required, nbf and lifetime are enforced, expiry has its own reason', async () => {
    const v = verifier();
    const t = Math.floor(now / 1000);
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { exp: null })), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x', nbf: t + 600 })), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { exp: t - 120 })), 'expired_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { exp: t + 7200 })), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { iat: t - 3000, exp: t + 1000 })), 'invalid_token', 'exp - iat above max_token_lifetime');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { iss: 'https://unknown' })), 'untrusted_issuer');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { iat: t + 10 * 365 * 86_400, exp: t + 600 })), 'invalid_token', 'iat far in the future');
    assert.equal(await reason(v, await sign({ sub: 'x' }, {}, portal.privateKey, { iat: t + 600, exp: t + 900 })), 'invalid_token', 'iat beyond the clock tolerance');
    assert.equal((await v.verify(await sign({ sub: 'x' }, {}, portal.privateKey, { iat: t + 5, exp: t + 600 }))).kind, 'ok', 'iat within the clock tolerance');
  });

  test('claims of the wrong type are refused, never coerced', async () => {
    const v = verifier();
    for (const claims of [{ sub: 'x', roles: 'admin' }, { sub: 'x', roles: { admin: true } }, { sub: 'x', roles: ['user', 7] }, { sub: 42 }, { sub: 'bad name' }, { sub: 'x', name: ['a'] }]) {
      assert.equal(await reason(v, await sign(claims)), 'invalid_token', JSON.stringify(claims));
    }
  });

  test('privileged roles: reject refuses, drop removes; look-alikes are kept as ordinary names', async () => {
    assert.equal(await reason(verifier(), await sign({ sub: 'x', roles: ['user', 'api'] })), 'privileged_role');
    assert.equal(await reason(verifier(), await sign({ sub: 'x', roles: [' admin '] })), 'privileged_role');
    const dropped = await verifier({ privileged_roles: 'drop' }).verify(await sign({ sub: 'x', roles: ['user', 'admin', 'Admin', 'superadmin', 'user,admin'] }));
    assert.deepEqual(dropped.kind === 'ok' && dropped.claims.roles, ['user', 'Admin', 'superadmin', 'user,admin']);
  });

  test('an unknown kid refreshes the JWKS at most once per cooldown, and an outage keeps the last good keys', async () => {
    const v = verifier();
    const before = fetches;
    assert.equal((await v.verify(await sign({ sub: 'a' }))).kind, 'ok');
    const rotated = await generateKeyPair('RS256', { extractable: true });
    const unknown = await sign({ sub: 'b' }, { kid: 'p2' }, rotated.privateKey);
    assert.equal(await reason(v, unknown), 'invalid_token');
    assert.equal(await reason(v, await sign({ sub: 'c' }, { kid: 'p3' }, rotated.privateKey)), 'invalid_token');
    assert.ok(fetches - before <= 2, `fetched ${fetches - before} times`);
    published = [...published, { ...(await exportJWK(rotated.publicKey)), kid: 'p2', alg: 'RS256' }];
    now += 31_000;
    assert.equal((await v.verify(await sign({ sub: 'b2' }, { kid: 'p2' }, rotated.privateKey))).kind, 'ok', 'after the cooldown the new key is fetched');
    failing = true;
    now += 31_000;
    try {
      assert.equal((await v.verify(await sign({ sub: 'd' }))).kind, 'ok', 'last good keys kept');
      assert.equal(await reason(v, await sign({ sub: 'e' }, { kid: 'p9' }, rotated.privateKey)), 'invalid_token');
      assert.equal((await v.verify(await sign({ sub: 'f' }))).kind, 'ok');
    } finally {
      failing = false;
    }
  });

  test('a public_key_file (PEM) verifies its issuer’s tokens and nothing signed with another key', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { exportSPKI } = await import('jose');
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-pem-')), 'portal.pem');
    writeFileSync(file, await exportSPKI(portal.publicKey));
    const v = new ExternalJwtVerifier([jwtIssuerSchema.parse({ name: 'portal', issuer: 'https://portal', audience: 'pcl', algorithms: ['RS256'], public_key_file: file })], { now: () => now });
    assert.equal((await v.verify(await sign({ sub: 'pem' }))).kind, 'ok');
    assert.equal(await reason(v, await sign({ sub: 'pem' }, {}, other.privateKey)), 'invalid_token');
  });

  test('a private key in public_key_file is refused, not turned into its public half', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { exportPKCS8 } = await import('jose');
    const { checkPublicKeyFile } = await import('../../../src/authn/external-jwt.js');
    const file = join(mkdtempSync(join(tmpdir(), 'pcl-pem-')), 'portal-private.pem');
    writeFileSync(file, await exportPKCS8(portal.privateKey));
    assert.throws(() => checkPublicKeyFile(file), /holds a private key/);
    assert.throws(
      () => new ExternalJwtVerifier([jwtIssuerSchema.parse({ name: 'portal', issuer: 'https://portal', audience: 'pcl', algorithms: ['RS256'], public_key_file: file })], { now: () => now }),
      /private key/,
    );
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair, createLocalJWKSet, jwtVerify, type CryptoKey } from 'jose';
import { externalUser } from '../../../src/authn/federation.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

const HS_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

describe('federation: external JWTs, hand-off, gateway tokens and the assertion', () => {
  let gw: TestGateway;
  let jwksServer: Server;
  let rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
  const hs = new TextEncoder().encode(HS_SECRET);

  const rsToken = (claims: Record<string, unknown>, options: { exp?: number; iss?: string; aud?: string; kid?: string } = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? 'k1' })
      .setIssuer(options.iss ?? 'https://portal.example')
      .setAudience(options.aud ?? 'portcullis')
      .setIssuedAt(now)
      .setExpirationTime(options.exp ?? now + 600)
      .sign(rsa.privateKey);
  };
  const hsToken = (claims: Record<string, unknown>, iss = 'https://lab.example'): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(iss)
      .setAudience('portcullis')
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(hs);
  };
  const adminApi = (method: string, path: string, body?: unknown): Promise<Response> =>
    gw.fetch(`/.auth/api${path}`, {
      method,
      headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64'), 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  before(async () => {
    rsa = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(rsa.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    const port = (jwksServer.address() as AddressInfo).port;
    gw = await startGateway({
      config: {
        jwt_issuers: [
          {
            name: 'portal',
            issuer: 'https://portal.example',
            audience: 'portcullis',
            algorithms: ['RS256'],
            jwks_url: `http://127.0.0.1:${port}/jwks.json`,
            roles_claim: 'realm_access.roles',
            handoff_cookie: 'portal_handoff',
          },
          { name: 'lab', issuer: 'https://lab.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET, privileged_roles: 'drop' },
          { name: 'corp', issuer: 'https://corp.example', audience: 'portcullis', algorithms: ['HS256'], secret: HS_SECRET, users: 'existing' },
        ],
        access: {
          default_policy: 'authenticated',
          rules: [
            { name: 'admin-only', paths: ['/admin/**'], roles: ['admin'] },
            { name: 'managers', paths: ['/mgr/**'], roles: ['manager'] },
          ],
        },
      },
    });
    await gw.registry.users.create({ username: 'localbob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await new Promise<void>((r) => jwksServer?.close(() => r()));
  });

  const echo = async (res: Response): Promise<Record<string, string>> => ((await res.json()) as { headers: Record<string, string> }).headers;

  test('a Bearer JWT of a configured issuer provisions a jwt:<issuer> user with mapped roles', async () => {
    const token = await rsToken({ sub: 'extuser', realm_access: { roles: ['user', 'manager'] }, projects: ['alpha'], name: 'Ext User' });
    const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    const headers = await echo(res);
    assert.equal(headers['x-auth-user'], 'extuser');
    assert.equal(headers['x-auth-roles'], 'manager,user');
    assert.equal(headers['x-auth-source'], 'jwt:portal');
    assert.equal((await gw.registry.store.getUser('extuser'))?.source, 'jwt:portal');
  });

  test('a token naming admin is rejected (reject) or stripped of it (drop), never granted', async () => {
    const rejected = await gw.fetch('/admin/x', { headers: { authorization: `Bearer ${await rsToken({ sub: 'sneaky', realm_access: { roles: ['admin'] } })}` } });
    assert.equal(rejected.status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'privileged_role'));
    const dropped = await gw.fetch('/x', { headers: { authorization: `Bearer ${await hsToken({ sub: 'labuser', roles: ['user', 'admin', ' api '] })}` } });
    assert.equal(dropped.status, 200);
    assert.equal((await echo(dropped))['x-auth-roles'], 'user');
    const variants = await gw.fetch('/admin/x', { headers: { authorization: `Bearer ${await hsToken({ sub: 'labuser2', roles: ['Admin', 'superadmin', 'user,admin'] })}` } });
    assert.equal(variants.status, 403, 'Admin, superadmin and user,admin are not admin');
    // ...and a backend splitting X-Auth-Roles on commas must not find admin or api in it either.
    const commas = await gw.fetch('/x', { headers: { authorization: `Bearer ${await hsToken({ sub: 'labuser3', roles: ['user,admin', 'x,api'], projects: ['p,q'] })}` } });
    assert.equal(commas.status, 200);
    const seen = await echo(commas);
    assert.equal(seen['x-auth-roles'], 'user%2Cadmin,x%2Capi');
    assert.equal(seen['x-auth-projects'], 'p%2Cq');
  });

  test('a remembered JWT follows its user record: a role change applies at once, a recreated local user is not logged in', async () => {
    await gw.registry.store.createUserIfAbsent(externalUser({ username: 'carol', name: 'Carol', email: '', roles: ['manager', 'user'], projects: [] }, 'jwt:corp', Date.now()));
    const carol = { headers: { authorization: `Bearer ${await hsToken({ sub: 'carol' }, 'https://corp.example')}` } };
    assert.equal((await gw.fetch('/mgr/x', carol)).status, 200);
    assert.equal((await gw.fetch('/mgr/x', carol)).status, 200, 'from the cache');
    assert.equal((await adminApi('PATCH', '/users/carol', { roles: ['user'] })).status, 200);
    assert.equal((await gw.fetch('/mgr/x', carol)).status, 403, 'the same token no longer carries manager');

    const dave = { headers: { authorization: `Bearer ${await hsToken({ sub: 'dave', roles: ['user'] })}` } };
    const first = await gw.fetch('/x', dave);
    assert.equal(first.status, 200);
    assert.equal((await echo(first))['x-auth-source'], 'jwt:lab');
    assert.equal((await adminApi('DELETE', '/users/dave')).status, 204);
    assert.equal((await adminApi('POST', '/users', { username: 'dave', password: 'Dave-Local-Passw0rd1', roles: ['user'] })).status, 201);
    assert.equal((await gw.fetch('/x', dave)).status, 401, 'the old token is no key to the new local dave');
  });

  test("with users: existing a remembered JWT carries the live record's projects: a removal applies at once", async () => {
    await gw.registry.store.createUserIfAbsent(externalUser({ username: 'erin', name: '', email: '', roles: ['user'], projects: ['alpha', 'beta'] }, 'jwt:corp', Date.now()));
    const erin = { headers: { authorization: `Bearer ${await hsToken({ sub: 'erin', projects: ['gamma'] }, 'https://corp.example')}` } };
    assert.equal((await echo(await gw.fetch('/x', erin)))['x-auth-projects'], 'alpha,beta', "the store's projects, not the token's");
    assert.equal((await echo(await gw.fetch('/x', erin)))['x-auth-projects'], 'alpha,beta', 'from the cache');
    assert.equal((await adminApi('PATCH', '/users/erin', { projects: ['beta'] })).status, 200);
    assert.equal((await echo(await gw.fetch('/x', erin)))['x-auth-projects'], 'beta', 'a projects change bumps no auth_version, and still applies');
  });

  test('a JWT never logs in a local user', async () => {
    const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${await rsToken({ sub: 'localbob' })}` } });
    assert.equal(res.status, 401);
  });

  test('forged tokens are refused: alg none, wrong audience, unknown issuer, expired, HS with the RSA public key', async () => {
    const now = Math.floor(Date.now() / 1000);
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const none = `${b64({ alg: 'none' })}.${b64({ sub: 'x', iss: 'https://portal.example', aud: 'portcullis', exp: now + 60 })}.`;
    const publicPem = new TextEncoder().encode(JSON.stringify(await exportJWK(rsa.publicKey)));
    const confused = await new SignJWT({ sub: 'x' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer('https://portal.example')
      .setAudience('portcullis')
      .setExpirationTime(now + 60)
      .sign(publicPem);
    const cases: Record<string, string> = {
      none,
      audience: await rsToken({ sub: 'x' }, { aud: 'other' }),
      issuer: await rsToken({ sub: 'x' }, { iss: 'https://evil.example' }),
      expired: await rsToken({ sub: 'x' }, { exp: now - 120 }),
      confused,
      tooLong: await rsToken({ sub: 'x' }, { exp: now + 7200 }),
      stripped: (await rsToken({ sub: 'x' })).split('.').slice(0, 2).join('.') + '.',
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, name);
    }
  });

  test('the hand-off creates a session once per jti and deletes the hand-off cookie', async () => {
    const token = await rsToken({ sub: 'handoff', jti: 'jti-1', realm_access: { roles: ['user'] } });
    const res = await gw.fetch('/.auth/jwt?rd=/dashboard', { headers: { cookie: `portal_handoff=${token}` } });
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/dashboard');
    const cookies = res.headers.getSetCookie();
    assert.ok(cookies.some((c) => c.startsWith('portal_handoff=;') && c.includes('Max-Age=0')));
    const session = cookies.find((c) => c.startsWith('portcullis_session=')) as string;
    const me = await gw.fetch('/.auth/me', { headers: { cookie: session.split(';')[0] as string } });
    assert.equal(((await me.json()) as { username: string; method: string }).method, 'session');
    const replay = await gw.fetch('/.auth/jwt', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` });
    assert.equal(replay.status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.reason === 'replayed_token'));
    const evil = await gw.fetch('/.auth/jwt?rd=https://evil.example/', { method: 'POST', headers: { authorization: `Bearer ${await rsToken({ sub: 'handoff', jti: 'jti-2' })}` } });
    assert.equal(evil.headers.get('location'), '/');
  });

  test('the assertion verifies with jose against /.auth/jwks.json, for the route audience', async () => {
    const res = await gw.fetch('/x', { headers: { authorization: `Bearer ${await rsToken({ sub: 'extuser', realm_access: { roles: ['user'] } })}` } });
    const assertion = (await echo(res))['x-auth-assertion'] as string;
    const jwks = createLocalJWKSet((await (await gw.fetch('/.auth/jwks.json')).json()) as { keys: [] });
    const { payload, protectedHeader } = await jwtVerify(assertion, jwks, { issuer: 'http://localhost', audience: 'echo', algorithms: ['ES256', 'EdDSA'] });
    assert.equal(payload.sub, 'extuser');
    assert.deepEqual(payload.roles, ['user']);
    assert.equal(payload.source, 'jwt:portal');
    assert.ok((payload.exp as number) - (payload.iat as number) <= 300);
    assert.equal(protectedHeader.alg, 'ES256');
  });

  test('gateway-signed JWT tokens for api users work as Bearer and end with revoke', async () => {
    const bot = await gw.registry.users.create({ username: 'bot', roles: ['api'] }, undefined);
    const { token } = await gw.registry.tokens.create(bot, { name: 'ci', kind: 'jwt', expiresInMs: 3_600_000 }, gw.registry.gatewayKeys);
    const ok = await gw.fetch('/x', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.equal((await echo(ok))['x-auth-roles'], 'api');
    await gw.registry.users.revoke('bot', { username: 'admin' });
    assert.equal((await gw.fetch('/x', { headers: { authorization: `Bearer ${token}` } })).status, 401);
    const bob = await gw.registry.store.getUser('localbob');
    assert.ok(bob);
    await assert.rejects(() => gw.registry.tokens.create(bob, { name: 'x', kind: 'jwt', expiresInMs: 1000 }, gw.registry.gatewayKeys), /Only users with role api/);
  });
});

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('gateway endpoints: token, verify, health, metrics, webhooks', () => {
  let gw: TestGateway;
  let hooks: Server;
  const delivered: Array<{ body: string; signature: string | undefined }> = [];
  const secret = 'webhook-secret-for-tests-0123456789';

  before(async () => {
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        delivered.push({ body, signature: req.headers['x-portcullis-signature'] as string | undefined });
        res.writeHead(204);
        res.end();
      });
    });
    await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
    const port = (hooks.address() as AddressInfo).port;
    gw = await startGateway({
      config: {
        server: { listen: '127.0.0.1:0', public_url: 'http://localhost', trusted_proxies: ['127.0.0.1/32'] },
        events: { webhooks: [{ url: `http://127.0.0.1:${port}/hook`, secret, types: ['UserLoggedIn', 'UserLoginFailed'] }] },
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'pub', paths: ['/public/**'], policy: 'public' },
            { name: 'admins', paths: ['/admin/**'], roles: ['admin'] },
            { name: 'users', paths: ['/**'], policy: 'authenticated' },
          ],
        },
      },
    });
    await gw.registry.users.create({ username: 'alice', password: 'Alice-Passw0rd', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await new Promise<void>((r) => hooks?.close(() => r()));
  });

  test('POST /.auth/token issues an opaque pcl_ token usable as X-Authentication and Bearer', async () => {
    const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'Alice-Passw0rd' }) });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { token: string; expires_at: string; user: { username: string } };
    assert.match(body.token, /^pcl_[A-Za-z0-9_-]{43}$/);
    assert.ok(Date.parse(body.expires_at) > Date.now());
    assert.equal(body.user.username, 'alice');
    const viaHeader = await gw.fetch('/x', { headers: { 'x-authentication': body.token } });
    assert.equal(viaHeader.status, 200);
    assert.equal(((await viaHeader.json()) as { headers: Record<string, string> }).headers['x-auth-user'], 'alice');
    assert.equal((await gw.fetch('/x', { headers: { authorization: `Bearer ${body.token}` } })).status, 200);
    const stored = await gw.registry.store.listTokens('alice');
    assert.ok(
      stored.every((t) => t.token_hash !== body.token && !JSON.stringify(t).includes(body.token)),
      'only a hash is stored',
    );
    await gw.registry.users.revoke('alice', { username: 'admin' });
    assert.equal((await gw.fetch('/x', { headers: { 'x-authentication': body.token } })).status, 401, 'revoke ends the token at once');
  });

  test('POST /.auth/token with a wrong password answers the one message and 401', async () => {
    const res = await gw.fetch('/.auth/token', { method: 'POST', headers: { authorization: 'Basic ' + Buffer.from('alice:nope').toString('base64') } });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Invalid username or password/);
  });

  test('forward-auth /.auth/verify decides on the forwarded request and returns identity headers', async () => {
    const admin = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };
    const alice = { authorization: 'Basic ' + Buffer.from('alice:Alice-Passw0rd').toString('base64') };
    const fwd = (uri: string, method = 'GET'): Record<string, string> => ({ 'x-forwarded-method': method, 'x-forwarded-host': 'app.example', 'x-forwarded-uri': uri });
    const ok = await gw.fetch('/.auth/verify', { headers: { ...admin, ...fwd('/admin/panel') } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-auth-user'), 'admin');
    assert.ok(ok.headers.get('x-auth-assertion'));
    assert.equal((await gw.fetch('/.auth/verify', { headers: { ...alice, ...fwd('/admin/panel') } })).status, 403);
    assert.equal((await gw.fetch('/.auth/verify', { headers: fwd('/admin/panel') })).status, 401);
    assert.equal((await gw.fetch('/.auth/verify', { headers: fwd('/public/x') })).status, 200);
    assert.equal((await gw.fetch('/.auth/verify', { headers: { ...alice, ...fwd('/public/a%2fb') } })).status, 400);
    assert.equal((await gw.fetch('/.auth/verify', { headers: { ...alice, ...fwd('/public/x?q=%2e%2e') } })).status, 200, 'the query is not the path');
  });

  test('forward-auth without host-scoped rules or routes decides without X-Forwarded-Host, for its own Host', async () => {
    const res = await gw.fetch('/.auth/verify', { headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/public/x' } });
    assert.equal(res.status, 200);
  });

  test('forward-auth refuses what it cannot decide for the path the backend will see', async () => {
    const alice = { authorization: 'Basic ' + Buffer.from('alice:Alice-Passw0rd').toString('base64') };
    // The backend behind a front proxy receives the target as the client wrote it: one that
    // normalises elsewhere (into the public area, here) is refused, not decided for that elsewhere.
    for (const uri of ['/admin/%2e%2e', '/admin/..', '/admin//..', '/public/../admin/x', '/public/%41']) {
      const res = await gw.fetch('/.auth/verify', { headers: { ...alice, 'x-forwarded-method': 'GET', 'x-forwarded-host': 'app.example', 'x-forwarded-uri': uri } });
      assert.equal(res.status, 400, uri);
    }
    // Without the forwarded method or target there is no request to decide on.
    assert.equal((await gw.fetch('/.auth/verify', { headers: { ...alice, 'x-original-uri': '/admin/x', 'x-forwarded-method': 'GET' } })).status, 400);
    assert.equal((await gw.fetch('/.auth/verify', { headers: { ...alice, 'x-forwarded-uri': '/public/x' } })).status, 400);
  });

  test('health and readiness answer without credentials', async () => {
    assert.deepEqual(await (await gw.fetch('/.auth/healthz')).json(), { status: 'ok' });
    assert.deepEqual(await (await gw.fetch('/.auth/readyz')).json(), { status: 'ready' });
  });

  test('/.auth paths are never forwarded upstream', async () => {
    const res = await gw.fetch('/.auth/nothing-here', { headers: { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') } });
    assert.equal(res.status, 404);
    const body = (await res.json()) as { error: { code: string }; method?: string };
    assert.equal(body.error.code, 'not_found');
    assert.equal(body.method, undefined, 'not the echo upstream');
  });

  test('metrics count logins by type and reason, never with usernames', async () => {
    await gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from('ghost:nope').toString('base64') } });
    const text = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
    assert.match(text, /portcullis_logins_total\{user_type="local",result="failure",reason="unknown_user"\} \d+/);
    assert.match(text, /portcullis_request_duration_seconds_bucket\{le="[^"]+",route="echo"\}/);
    assert.ok(!text.includes('ghost') && !text.includes('alice'));
  });

  test('login events reach the webhook signed with HMAC-SHA256 of the body, without secrets', async () => {
    await gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from('alice:wrong-password-xyz').toString('base64') } });
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && !delivered.some((d) => d.body.includes('UserLoginFailed'))) await new Promise((r) => setTimeout(r, 20));
    const hit = delivered.find((d) => d.body.includes('UserLoginFailed'));
    assert.ok(hit, 'webhook delivered');
    assert.equal(hit.signature, 'sha256=' + createHmac('sha256', secret).update(hit.body).digest('hex'));
    assert.ok(!hit.body.includes('wrong-password-xyz'));
    const event = JSON.parse(hit.body) as Record<string, unknown>;
    assert.equal(event.event, 'UserLoginFailed');
    assert.equal(typeof event.request_id, 'string');
    assert.ok(!delivered.some((d) => d.body.includes('AccessDenied')));
  });

  test('no log line carries a password, token or cookie', async () => {
    const text = gw.logs.join('');
    for (const secretValue of ['Alice-Passw0rd', ADMIN_PASSWORD, 'wrong-password-xyz', 'pcl_']) assert.ok(!text.includes(secretValue), secretValue);
  });
});

describe('forward-auth when rules or routes depend on the host', () => {
  const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  // What nginx auth_request sends: Host is the gateway's own name ($proxy_host).
  const subrequest = (uri: string, extra: Record<string, string> = {}): RequestInit => ({
    headers: { host: 'portcullis.internal:8080', 'x-forwarded-method': 'GET', 'x-forwarded-uri': uri, ...extra },
  });

  for (const [label, config] of [
    [
      'a rule has hosts',
      {
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'admin-site', hosts: ['admin.example.org'], paths: ['/**'], roles: ['admin'] },
            { name: 'open', paths: ['/**'], policy: 'public' },
          ],
        },
      },
    ],
    [
      'a route has a host',
      {
        routes: [
          { name: 'admin-app', host: 'admin.example.org', path_prefix: '/', upstream: 'builtin:echo' },
          { name: 'echo', path_prefix: '/', upstream: 'builtin:echo' },
        ],
        access: { default_policy: 'deny', rules: [{ name: 'open', paths: ['/**'], policy: 'public' }] },
      },
    ],
  ] as const) {
    test(`refuses a request without X-Forwarded-Host with 400 when ${label}, instead of deciding for its own Host`, async () => {
      const gw = await startGateway({ config: { server: { trusted_proxies: ['127.0.0.1/32'] }, ...config } });
      try {
        const res = await gw.fetch('/.auth/verify', subrequest('/settings'));
        assert.equal(res.status, 400);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bad_request');
        assert.equal((await gw.fetch('/.auth/verify', subrequest('/settings', { 'x-forwarded-host': 'www.example.org' }))).status, 200);
      } finally {
        await gw.close();
      }
    });
  }

  test("judges the last X-Forwarded-Host value (the nearest proxy's), in normal form, as the gateway judges a trusted proxy's request", async () => {
    const gw = await startGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.1/32'] },
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'admin-site', hosts: ['admin.example.org'], paths: ['/**'], roles: ['admin'] },
            { name: 'open', paths: ['/**'], policy: 'public' },
          ],
        },
      },
    });
    try {
      for (const forwarded of ['admin.example.org', 'Admin.Example.org.:443', 'www.example.org, admin.example.org']) {
        assert.equal((await gw.fetch('/.auth/verify', subrequest('/settings', { 'x-forwarded-host': forwarded }))).status, 401, forwarded);
        assert.equal((await gw.fetch('/.auth/verify', subrequest('/settings', { 'x-forwarded-host': forwarded, authorization: admin }))).status, 200, forwarded);
      }
      assert.equal((await gw.fetch('/.auth/verify', subrequest('/settings', { 'x-forwarded-host': 'admin..example.org' }))).status, 400);
      // A client-written value to the left of the proxy's is not what the rules judge.
      assert.equal((await gw.fetch('/.auth/verify', subrequest('/settings', { 'x-forwarded-host': 'admin.example.org, www.example.org' }))).status, 200, 'judged as www.example.org: the open rule');
    } finally {
      await gw.close();
    }
  });
});

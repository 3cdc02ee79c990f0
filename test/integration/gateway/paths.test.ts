import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawGet } from '../../helpers/raw-request.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const rawTarget = (url: string, target: string, extra = ''): Promise<{ status: number; text: string }> => rawGet(url, target, { extra });

describe('path normalisation and path tricks', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const auth = 'Authorization: Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') + '\r\n';

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [
          { name: 'app', path_prefix: '/', upstream: upstream.url },
          { name: 'stripped', path_prefix: '/grafana', upstream: upstream.url, strip_prefix: true },
        ],
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'badges', paths: ['/badges/**'], methods: ['GET', 'HEAD'], policy: 'public' },
            { name: 'grafana', paths: ['/grafana/**'], policy: 'public' },
          ],
        },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('dot segments cannot climb out of a public prefix', async () => {
    for (const target of ['/badges/../admin', '/badges/%2e%2e/admin', '/badges/.%2E/admin', '/badges/./../admin']) {
      const before = upstream.received.length;
      const res = await rawTarget(gw.url, target);
      assert.equal(res.status, 403, `${target} → ${res.status} (default deny)`);
      assert.equal(upstream.received.length, before, `${target} must not be forwarded`);
    }
  });

  test('refuses encoded slashes, backslashes, NUL, control characters and path parameters with 400', async () => {
    for (const target of ['/badges/a%2fb', '/badges/a%2Fb', '/badges/a%5cb', '/badges/a\\b', '/badges/a%00', '/badges/%0d%0aX:1', '/badges/x;jsessionid=1', '/badges/x%3bparam', '/badges/%zz']) {
      const before = upstream.received.length;
      const res = await rawTarget(gw.url, target);
      assert.equal(res.status, 400, `${target} → ${res.status}`);
      assert.equal(upstream.received.length, before, `${target} must not be forwarded`);
    }
  });

  test('the backend receives exactly the path that was matched', async () => {
    const res = await rawTarget(gw.url, '//badges//a/./b/%7Euser/x%20y?q=%2F1');
    assert.equal(res.status, 200);
    assert.equal(upstream.last().url, '/badges/a/b/~user/x%20y?q=%2F1');
  });

  test('refuses an absolute-form target for another host', async () => {
    const { port } = new URL(gw.url);
    const res = await rawTarget(gw.url, 'http://evil.example/badges/x');
    assert.equal(res.status, 400);
    const same = await rawTarget(gw.url, `http://127.0.0.1:${port}/badges/x`);
    assert.equal(same.status, 200);
    assert.equal(upstream.last().url, '/badges/x');
  });

  test('matches paths case-sensitively: /Badges is not /badges', async () => {
    const res = await rawTarget(gw.url, '/Badges/x');
    assert.equal(res.status, 403);
  });

  test('strip_prefix removes the route prefix on a segment boundary only', async () => {
    await rawTarget(gw.url, '/grafana/d/abc?x=1');
    assert.equal(upstream.last().url, '/d/abc?x=1');
    await rawTarget(gw.url, '/grafana');
    assert.equal(upstream.last().url, '/');
    const res = await rawTarget(gw.url, '/grafanax/d', auth);
    assert.equal(res.status, 403, 'the /grafana route and rule do not cover /grafanax');
  });

  test('methods are matched: POST to a GET-only public rule falls through to the default deny', async () => {
    const before = upstream.received.length;
    const res = await gw.fetch('/badges/x', { method: 'POST' });
    assert.equal(res.status, 403);
    assert.equal(upstream.received.length, before);
  });
});

describe('percent-encoded characters a rule spells literally', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const basic = (user: string, password: string): string => 'Authorization: Basic ' + Buffer.from(`${user}:${password}`).toString('base64') + '\r\n';
  const carol = basic('carol', 'Carol-Passw0rd!');
  const admin = basic('admin', ADMIN_PASSWORD);

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
        access: {
          default_policy: 'authenticated',
          rules: [
            // Google-style custom methods, OData, handles: only admins may purge, read metadata or see @root.
            { name: 'purge', paths: ['/api/items:purge', '/odata/$metadata', '/profiles/@root/**'], roles: ['admin'] },
            { name: 'closed', paths: ['/caf%C3%A9/**', '/annual%20report/**'], policy: 'deny' },
          ],
        },
      },
    });
    await gw.registry.users.create({ username: 'carol', password: 'Carol-Passw0rd!', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('an encoded sub-delim, colon or at-sign does not take a request past the rule that spells it literally', async () => {
    for (const target of ['/api/items:purge', '/api/items%3Apurge', '/api/items%3apurge', '/odata/%24metadata', '/profiles/%40root/keys', '/profiles/%40root/%2e/keys']) {
      const before = upstream.received.length;
      assert.equal((await rawTarget(gw.url, target, carol)).status, 403, target);
      assert.equal(upstream.received.length, before, `${target} must not be forwarded`);
    }
    assert.equal((await rawTarget(gw.url, '/api/items:list', carol)).status, 200, 'control: other paths are open to any identity');
  });

  test('the backend receives the decoded spelling the rule matched, never the encoded one', async () => {
    assert.equal((await rawTarget(gw.url, '/api/items%3Apurge?x=%3A', admin)).status, 200);
    assert.equal(upstream.last().url, '/api/items:purge?x=%3A');
    assert.equal((await rawTarget(gw.url, '/profiles/%40root/a%22b%20c', admin)).status, 200);
    assert.equal(upstream.last().url, '/profiles/@root/a%22b%20c');
    assert.equal((await rawTarget(gw.url, '/files/%252e%252e/x', carol)).status, 200);
    assert.equal(upstream.last().url, '/files/%252e%252e/x', 'decoded once: %25 stays, so no dot segment appears');
  });

  test('a deny rule on a non-ASCII or space path, written as requests carry it, denies every spelling', async () => {
    for (const target of ['/caf%C3%A9/menu', '/caf%c3%a9/menu', '/annual%20report/2026']) {
      assert.equal((await rawTarget(gw.url, target, admin)).status, 403, target);
    }
  });
});

describe('rule paths that can never match', () => {
  test('are refused by the config with their key path and the spelling that works', async () => {
    await assert.rejects(
      startGateway({ config: { access: { default_policy: 'authenticated', rules: [{ name: 'closed', paths: ['/ok/**', '/café/**', '/api/items%3Apurge'], policy: 'deny' }] } } }),
      (err: Error & { problems?: Array<{ path: string; message: string }> }) => {
        assert.deepEqual(err.problems, [
          { path: 'access.rules[0].paths[1]', message: '"/café/**" never matches a request: write /caf%C3%A9/** (percent-encoded UTF-8, as requests carry it)' },
          { path: 'access.rules[0].paths[2]', message: '"/api/items%3Apurge" never matches a request: write /api/items:purge (: not %3A, as requests are decoded)' },
        ]);
        return true;
      },
    );
  });
});

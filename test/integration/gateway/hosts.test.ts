import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { rawGet } from '../../helpers/raw-request.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

const withHost = async (url: string, host: string, extra = ''): Promise<number> => (await rawGet(url, '/secret', { host, extra })).status;

describe('host-scoped rules and Host spellings', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const admin = 'Authorization: Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') + '\r\n';

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url, preserve_host: true }],
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'admin-site', hosts: ['admin.example.org'], paths: ['/**'], roles: ['admin'] },
            { name: 'open', paths: ['/**'], policy: 'public' },
          ],
        },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('a trailing dot, a port or capitals do not take a request past a host-scoped rule', async () => {
    for (const host of ['admin.example.org', 'admin.example.org.', 'ADMIN.Example.org.:80', 'admin.example.org:8080']) {
      assert.equal(await withHost(gw.url, host), 401, host);
    }
    assert.equal(await withHost(gw.url, 'admin.example.org.', admin), 200);
    assert.equal(await withHost(gw.url, 'www.example.org'), 200, 'other hosts fall to the public rule');
  });

  test('a Host that is no host name is refused, not treated as host-less', async () => {
    const before = upstream.received.length;
    for (const host of ['admin.example.org..', '.admin.example.org', 'admin.example.org:x', '[::1']) {
      assert.equal(await withHost(gw.url, host), 400, host);
    }
    assert.equal(upstream.received.length, before, 'nothing reached the upstream');
  });
});

describe('hosts entries in rules and routes', () => {
  let upstream: Upstream;
  let gw: TestGateway;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [
          { name: 'documentation-net', host: '[2001:DB8:0:0:0:0:0:1]', path_prefix: '/', upstream: upstream.url },
          { name: 'app', path_prefix: '/', upstream: 'builtin:echo' },
        ],
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'internal', hosts: ['[0:0:0:0:0:0:0:1]', 'Intranet.Example.org.'], paths: ['/**'], policy: 'deny' },
            { name: 'open', paths: ['/**'], policy: 'public' },
          ],
        },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('an IPv6 literal is compared in its canonical form, however the config and the Host spell it', async () => {
    for (const host of ['[0:0:0:0:0:0:0:1]', '[::1]', '[::0:1]:8443', 'intranet.example.org', 'INTRANET.example.org.:80']) {
      assert.equal(await withHost(gw.url, host), 403, host);
    }
    assert.equal(await withHost(gw.url, 'www.example.org'), 200, 'control: other hosts fall to the public rule');
  });

  test('a route for an IPv6 literal takes the requests for it in any spelling', async () => {
    for (const host of ['[2001:db8::1]', '[2001:0DB8:0::1]:8080']) {
      const before = upstream.received.length;
      assert.equal(await withHost(gw.url, host), 200, host);
      assert.equal(upstream.received.length, before + 1, `${host} went to the route of [2001:DB8:0:0:0:0:0:1], not to the echo`);
    }
  });

  test('a port in a rule or route host is refused by the config with its key path and the entry that works', async () => {
    await assert.rejects(
      startGateway({
        config: {
          routes: [{ name: 'admin', host: 'admin.example.org:8443', path_prefix: '/', upstream: 'builtin:echo' }],
          access: { default_policy: 'deny', rules: [{ name: 'internal', hosts: ['admin.example.org:8443', '[0:0::1]:443'], paths: ['/**'], policy: 'deny' }] },
        },
      }),
      (err: Error & { problems?: Array<{ path: string; message: string }> }) => {
        assert.deepEqual(err.problems, [
          { path: 'routes[0].host', message: 'Host headers are compared without their port, so admin.example.org:8443 never matches; write admin.example.org (it matches every port)' },
          { path: 'access.rules[0].hosts[0]', message: 'Host headers are compared without their port, so admin.example.org:8443 never matches; write admin.example.org (it matches every port)' },
          { path: 'access.rules[0].hosts[1]', message: 'Host headers are compared without their port, so [0:0::1]:443 never matches; write [::1] (it matches every port)' },
        ]);
        return true;
      },
    );
  });
});

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

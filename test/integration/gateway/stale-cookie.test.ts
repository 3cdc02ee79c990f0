import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, type Upstream } from '../../helpers/upstream.js';

/** SPEC 3: an invalid session cookie counts as absent and is cleared — on allowed answers too. */
describe('a stale session cookie on requests that are allowed anyway', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  const stale = 'theme=dark; portcullis_session=' + 'B'.repeat(43);
  const cleared = /portcullis_session=; Path=\/; Max-Age=0/;

  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        anonymous_user: 'guest',
        routes: [
          { name: 'echo', path_prefix: '/echo', upstream: 'builtin:echo' },
          { name: 'app', path_prefix: '/', upstream: upstream.url },
        ],
      },
    });
    await gw.registry.users.create({ username: 'guest', password: 'Guest-Passw0rd1', roles: ['readonly'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('forwarded as the anonymous user: the answer clears the cookie, the upstream never sees it', async () => {
    const res = await gw.fetch('/x', { headers: { cookie: stale } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('set-cookie') ?? '', cleared);
    assert.equal(upstream.last().headers['x-auth-user'], 'guest');
    assert.equal(upstream.last().headers.cookie, 'theme=dark');
    const fresh = await gw.fetch('/x');
    assert.equal(fresh.status, 200);
    assert.equal(fresh.headers.get('set-cookie'), null, 'nothing to clear without a cookie');
  });

  test('answered by builtin:echo: cleared as well', async () => {
    const res = await gw.fetch('/echo/x', { headers: { cookie: stale } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('set-cookie') ?? '', cleared);
  });
});

/**
 * Review: case_insensitive_paths against escapes and rules spelled with capitals,
 * X-Forwarded-Host from a trusted proxy with many values, and the revoke body rule with
 * conflicting framing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';
import { startUpstream, rawHeaderValues, type Upstream } from '../../helpers/upstream.js';

const admin = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
const bob = 'Basic ' + Buffer.from('bob:Bob-Passw0rd1').toString('base64');

function raw(url: string, text: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write(text));
    let out = '';
    socket.on('data', (c: Buffer) => (out += c.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(out));
    socket.setTimeout(3000, () => socket.destroy());
  });
}
const status = (text: string): number => Number(text.slice(9, 12));

describe('review: case_insensitive_paths', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        routes: [
          { name: 'ci', path_prefix: '/ci/', upstream: upstream.url, case_insensitive_paths: true },
          { name: 'app', path_prefix: '/', upstream: upstream.url },
        ],
        access: {
          default_policy: 'authenticated',
          rules: [
            { name: 'admin-area', paths: ['/ci/admin/**'], roles: ['admin'] },
            { name: 'secret-area', paths: ['/ci/Secret/**', 're:^/ci/Vault(/.*)?$'], roles: ['admin'] },
          ],
        },
      },
    });
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('percent-encoded letters, dot segments and doubled slashes are judged as /ci/admin/', async () => {
    const before = upstream.received.length;
    for (const path of ['/ci/%41DMIN/x', '/ci/%61dmin/x', '/ci/AD%4DIN/x', '/ci/x/../ADMIN/x', '/ci//Admin/x', '/ci/./aDmIn/x', '/ci/ADMIN']) {
      assert.equal((await gw.fetch(path, { headers: { authorization: bob } })).status, 403, path);
    }
    assert.equal(upstream.received.length, before);
  });

  test('a rule spelled with capitals still guards its paths on a case-insensitive route', async () => {
    const before = upstream.received.length;
    for (const path of ['/ci/Secret/x', '/ci/SECRET/x', '/ci/secret/x', '/ci/Vault', '/ci/vault/x']) {
      assert.equal((await gw.fetch(path, { headers: { authorization: bob } })).status, 403, path);
    }
    assert.equal(upstream.received.length, before, 'a path of an admin-only rule reached the upstream');
  });
});

describe('review: X-Forwarded-Host from a trusted proxy', () => {
  let upstream: Upstream;
  let gw: TestGateway;
  before(async () => {
    upstream = await startUpstream();
    gw = await startGateway({
      config: {
        server: { trusted_proxies: ['127.0.0.1/32'] },
        routes: [{ name: 'app', path_prefix: '/', upstream: upstream.url }],
        access: { default_policy: 'authenticated', rules: [{ name: 'admin-host', hosts: ['admin.example'], paths: ['/**'], roles: ['admin'] }] },
      },
    });
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
    await upstream?.close();
  });

  test('the last value decides, whatever the spacing, port, case or number of header lines', async () => {
    for (const values of [['public.example, admin.example'], ['public.example ,\t ADMIN.example. '], ['public.example', 'admin.example'], ['a.example, b.example, c.example, admin.example:8443']]) {
      const lines = values.map((v) => `X-Forwarded-Host: ${v}\r\n`).join('');
      const answer = await raw(gw.url, `GET /x HTTP/1.1\r\nHost: localhost\r\n${lines}Authorization: ${bob}\r\nConnection: close\r\n\r\n`);
      assert.equal(status(answer), 403, JSON.stringify(values));
    }
  });

  test("the upstream is told the one host that was judged, never the client's list", async () => {
    const answer = await raw(gw.url, `GET /x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: admin.example, public.example\r\nAuthorization: ${bob}\r\nConnection: close\r\n\r\n`);
    assert.equal(status(answer), 200);
    assert.deepEqual(rawHeaderValues(upstream.last(), 'x-forwarded-host'), ['public.example']);
  });

  test('an empty last value or a value with a space inside is refused, not judged host-less', async () => {
    for (const value of ['admin.example,', 'admin.example, ', 'public.example, admin .example', 'admin.example public.example']) {
      const answer = await raw(gw.url, `GET /x HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-Host: ${value}\r\nAuthorization: ${bob}\r\nConnection: close\r\n\r\n`);
      assert.equal(status(answer), 400, value);
    }
  });

  test('/.auth/verify judges the same last value', async () => {
    const res = await gw.fetch('/.auth/verify', { headers: { authorization: bob, 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/x', 'x-forwarded-host': 'public.example, admin.example' } });
    assert.equal(res.status, 403);
  });
});

describe('review: revoke with conflicting framing', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
    await gw.registry.users.create({ username: 'carl', password: 'Carl-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(async () => {
    await gw?.close();
  });

  test('Content-Length: 0 with Transfer-Encoding is refused, and a request smuggled in its body is never run', async () => {
    const smuggled = `POST /.auth/api/users/carl/revoke HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${admin}\r\nContent-Length: 0\r\n\r\n`;
    const chunk = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
    const carlBefore = (await gw.registry.store.getUser('carl'))!.auth_version;
    for (const te of ['chunked', ' chunked', 'identity, chunked']) {
      const answer = await raw(gw.url, `POST /.auth/api/users/carl/revoke HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${bob}\r\nContent-Length: 0\r\nTransfer-Encoding: ${te}\r\n\r\n${chunk}`);
      assert.ok(status(answer) === 400 || status(answer) === 403, `${te}: ${answer.slice(0, 40)}`);
      assert.ok(!/HTTP\/1\.1 204/.test(answer), `${te}: a second answer (204) came back`);
    }
    const plain = await raw(
      gw.url,
      `POST /.auth/api/users/carl/revoke HTTP/1.1\r\nHost: localhost\r\nAuthorization: ${bob}\r\nContent-Length: 0\r\n\r\n${smuggled.replace('Content-Length: 0', 'Content-Length: 0\r\nConnection: close')}`,
    );
    assert.equal(status(plain), 403);
    assert.equal((await gw.registry.store.getUser('carl'))!.auth_version, carlBefore + (/HTTP\/1\.1 204/.test(plain) ? 1 : 0), 'only the pipelined admin request may revoke');
  });
});

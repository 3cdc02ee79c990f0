import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('malformed requests on a connection and in API paths', () => {
  let upstream: Server;
  let gw: TestGateway;
  const admin = { authorization: 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64') };

  before(async () => {
    // Sends half its body, then the rest a little later.
    upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '20' });
      res.write('first-half|');
      setTimeout(() => res.end('secondhlf'), 500);
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    gw = await startGateway({
      config: {
        routes: [{ name: 'slow', path_prefix: '/slow', upstream: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` }],
        access: { default_policy: 'deny', rules: [{ name: 'open', paths: ['/slow/**'], policy: 'public' }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await new Promise<void>((resolve) => upstream?.close(() => resolve()));
  });

  test('garbage pipelined behind an answer in progress cuts the connection, never writes a 400 into the body', async () => {
    const { hostname, port } = new URL(gw.url);
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
    socket.write('GET /slow/x HTTP/1.1\r\nHost: gw\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.write('GARBAGE\r\n\r\n');
    await new Promise((resolve) => socket.on('close', resolve));
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.ok(!text.includes('400 Bad Request'), text);
  });

  test('a path parameter that is not valid percent-encoding answers 400, not 500', async () => {
    const res = await gw.fetch('/.auth/api/users/%C0%80', { headers: admin });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'bad_request');
  });

  test('API answers tell browsers not to sniff their type', async () => {
    const res = await gw.fetch('/.auth/api/users', { headers: admin });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
  });
});

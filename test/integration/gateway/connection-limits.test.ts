/**
 * The gateway listener's bounds on connections: how many it holds (server.max_connections) and
 * how long a request may take to send its headers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { loadGatewayConfig } from '../../../src/app/check.js';
import { startGateway } from '../../helpers/gateway.js';

function open(url: string): Socket {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  return socket;
}

const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('connections past server.max_connections are closed at once, and a freed slot is usable again', async () => {
  const gw = await startGateway({ config: { server: { listen: '127.0.0.1:0', public_url: 'http://localhost', max_connections: 20 } } });
  const sockets: Socket[] = [];
  try {
    let closed = 0;
    for (let i = 0; i < 30; i++) {
      const socket = open(gw.url);
      socket.on('close', () => closed++);
      socket.resume();
      socket.write('GET /x HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
      sockets.push(socket);
      await settle(5);
    }
    await settle(300);
    assert.equal(closed, 10, 'the ten connections past the cap were closed');
    for (const socket of sockets) socket.destroy();
    await settle(300);
    const res = await gw.fetch('/.auth/healthz');
    assert.equal(res.status, 200);
  } finally {
    for (const socket of sockets) socket.destroy();
    await gw.close();
  }
});

test('a request whose headers are not complete within 10 s is cut, even from a client that never reads', async () => {
  const gw = await startGateway();
  const reading = open(gw.url);
  const silent = open(gw.url);
  try {
    let answer = '';
    const readerClosed = new Promise<number>((resolve) => {
      const started = performance.now();
      reading.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      reading.on('close', () => resolve(performance.now() - started));
    });
    // The silent client never reads: it only learns of the cut when its next byte is refused.
    let silentError = '';
    silent.on('error', (err: NodeJS.ErrnoException) => (silentError = err.code ?? err.message));
    for (const socket of [reading, silent]) socket.write('GET /x HTTP/1.1\r\nHost: localhost\r\nX-Slow: ');
    const dribble = setInterval(() => {
      for (const socket of [reading, silent]) if (!socket.destroyed) socket.write('a');
    }, 1000);
    const ms = await readerClosed;
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.ok(ms >= 9_500 && ms < 13_500, `cut after ${Math.round(ms)} ms`);
    for (let waited = 0; waited < 3000 && !silent.destroyed; waited += 100) await settle(100);
    clearInterval(dribble);
    assert.ok(silent.destroyed, 'the connection of a client that never reads was not left half-open');
    assert.match(silentError, /EPIPE|ECONNRESET/);
  } finally {
    reading.destroy();
    silent.destroy();
    await gw.close();
  }
});

test('server.max_connections accepts 0 (no limit) and refuses a negative or fractional value', () => {
  const text = (value: number): string => `server:\n  max_connections: ${value}\nroutes:\n  - { name: echo, path_prefix: /, upstream: "builtin:echo" }\n`;
  assert.equal(loadGatewayConfig({ text: text(0), env: {} }).server.max_connections, 0);
  assert.equal(loadGatewayConfig({ text: 'routes:\n  - { name: echo, path_prefix: /, upstream: "builtin:echo" }\n', env: {} }).server.max_connections, 10_000);
  assert.throws(() => loadGatewayConfig({ text: text(-1), env: {} }), /server\.max_connections/);
  assert.throws(() => loadGatewayConfig({ text: text(1.5), env: {} }), /server\.max_connections/);
});

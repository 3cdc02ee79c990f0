/**
 * A route's agent hands Node's agent only the connection part of a request's options (see
 * connectionOptions in timed-agent.ts). What must survive that: each request reaches the host
 * and port it names, connections are pooled per upstream and reused, and a request that names
 * a local address connects from it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timedAgent } from '../../../src/proxy/timed-agent.js';

interface Upstream {
  port: number;
  /** The client ports of the connections this upstream has accepted, in order. */
  connections: number[];
  close(): Promise<void>;
}

async function startUpstream(name: string): Promise<Upstream> {
  const connections: number[] = [];
  const server: Server = createServer((req, res) => res.end(`${name} ${req.socket.remotePort} ${req.socket.remoteAddress}`));
  server.on('connection', (socket) => connections.push(socket.remotePort as number));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function get(agent: Agent, port: number, localAddress?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

describe("a route's agent pools connections per upstream", () => {
  let one: Upstream;
  let two: Upstream;

  before(async () => {
    [one, two] = await Promise.all([startUpstream('one'), startUpstream('two')]);
  });
  after(async () => {
    await Promise.all([one?.close(), two?.close()]);
  });

  test('each request reaches the port it names, and each upstream keeps its own reused connection', async () => {
    const agent = timedAgent({ secure: false, timeoutMs: 5000 });
    try {
      const answers: string[] = [];
      for (let i = 0; i < 3; i++) {
        answers.push(await get(agent, one.port));
        answers.push(await get(agent, two.port));
      }
      assert.deepEqual(
        answers.map((answer) => answer.split(' ')[0]),
        ['one', 'two', 'one', 'two', 'one', 'two'],
      );
      // One connection each, reused by all three requests (sequential, so keep-alive must serve them).
      assert.equal(one.connections.length, 1);
      assert.equal(two.connections.length, 1);
      assert.equal(new Set(answers.filter((a) => a.startsWith('one')).map((a) => a.split(' ')[1])).size, 1);
      assert.notEqual(one.connections[0], two.connections[0]);
    } finally {
      agent.destroy();
    }
  });

  test('a request naming a local address connects from it, in a pool of its own', async () => {
    const agent = timedAgent({ secure: false, timeoutMs: 5000 });
    const before = one.connections.length;
    try {
      const plain = await get(agent, one.port);
      const bound = await get(agent, one.port, '127.0.0.2');
      assert.match(plain, /^one \d+ 127\.0\.0\.1$/);
      assert.match(bound, /^one \d+ 127\.0\.0\.2$/);
      assert.equal(one.connections.length - before, 2);
    } finally {
      agent.destroy();
    }
  });
});

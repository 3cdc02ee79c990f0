/**
 * Child of agent-tier.test.ts, run with `--allow-natives-syntax`: sends requests in bursts
 * through a route's agent (argv[2] `route`) or a plain keep-alive agent (`plain`) and prints
 * whether V8 runs Node's `Agent.prototype.addRequest` in optimised code afterwards.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timedAgent } from '../../../src/proxy/timed-agent.js';

// Natives syntax is only parsed with the flag, and only by V8 itself, hence the Function constructor.
const optimised = new Function('f', 'return %ActiveTierIsTurbofan(f) || %ActiveTierIsMaglev(f)') as (f: unknown) => boolean;
const server = createServer((_req, res) => res.end('ok'));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;
const agent = process.argv[2] === 'route' ? timedAgent({ secure: false, timeoutMs: 10_000 }) : new Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, scheduling: 'lifo' });
const one = (): Promise<void> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    req.end();
  });
// When a burst's last answer comes back, every socket is free again and Node's agent deletes the
// pool's list of busy sockets; the next burst's first request adds it back.
for (let burst = 0; burst < 2500; burst++) await Promise.all(Array.from({ length: 8 }, one));
await new Promise((resolve) => setTimeout(resolve, 100)); // a compile job still running finishes
for (let burst = 0; burst < 50; burst++) await Promise.all(Array.from({ length: 8 }, one));
// addRequest is Node's, not in its typings.
process.stdout.write(JSON.stringify({ optimised: optimised((Agent.prototype as unknown as { addRequest: unknown }).addRequest) }) + '\n');
agent.destroy();
server.close();

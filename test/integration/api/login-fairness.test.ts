/**
 * The login slots (SPEC 3, password chain): one client address holds at most its share of the
 * logins in progress, so a client flooding bad logins with made-up names is refused with 503
 * logins_overloaded past its share while the logins of every other client go through. The
 * client address is the one server.trusted_proxies lets the gateway believe.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

let gw: TestGateway;

before(async () => {
  gw = await startGateway({ config: { server: { trusted_proxies: ['127.0.0.1/32'] } } });
});
after(() => gw?.close());

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

/** POST /.auth/token as the client `forwardedFor` (the test plays the trusted proxy in front of it). */
function tokenLogin(body: unknown, forwardedFor: string, agent: Agent | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'x-forwarded-for': forwardedFor };
    const req = request(new URL('/.auth/token', gw.url), { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

test('one client flooding bad logins with made-up names is held to its share and does not refuse the logins of others', async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 48 });
  let stop = false;
  let refusedFlood: Answer | undefined;
  let flooded = 0;
  const attacker = async (worker: number): Promise<void> => {
    for (let i = 0; !stop; i++) {
      const answer = await tokenLogin({ username: `nobody${worker}x${i}`, password: 'wrong-password' }, '203.0.113.66', agent);
      flooded++;
      if (answer.status === 503) refusedFlood ??= answer;
    }
  };
  const flood = Promise.all(Array.from({ length: 48 }, (_, worker) => attacker(worker)));
  try {
    await new Promise((r) => setTimeout(r, 500));
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      statuses.push((await tokenLogin({ username: 'admin', password: ADMIN_PASSWORD }, '198.51.100.7', undefined)).status);
      await new Promise((r) => setTimeout(r, 100));
    }
    const refused = statuses.filter((s) => s === 503).length;
    assert.ok(refused <= 2, `${refused} of 20 logins of another client were refused while one client flooded (${statuses.join(',')}; ${flooded} flood requests)`);
    assert.ok(statuses.filter((s) => s === 201).length >= 18, `logins of another client succeed: ${statuses.join(',')}`);
  } finally {
    stop = true;
    await flood;
    agent.destroy();
  }
  // The flooding client itself is refused past its share, exactly like the process bound.
  assert.ok(refusedFlood, 'the flooding client was refused past its share');
  assert.equal(refusedFlood.retryAfter, '1');
  assert.equal((JSON.parse(refusedFlood.body) as { error: { code: string } }).error.code, 'logins_overloaded');
  // Refusals are no guesses: no event for them, only for the logins that were admitted.
  const failed = gw.events.filter((e) => e.event === 'UserLoginFailed').length;
  assert.ok(failed < flooded, `${failed} UserLoginFailed events for ${flooded} flood requests`);
});

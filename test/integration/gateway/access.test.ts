import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('access rules end to end: {self}, {project}, grants, quotas, roles', () => {
  let gw: TestGateway;
  const as = (u: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${u[0]?.toUpperCase()}${u.slice(1)}-Passw0rd`).toString('base64') } });

  before(async () => {
    gw = await startGateway({
      config: {
        access: {
          default_policy: 'deny',
          rules: [
            { name: 'badges', paths: ['/badges/**'], methods: ['GET', 'HEAD'], policy: 'public' },
            { name: 'own-data', paths: ['/users/{self}/**'], policy: 'authenticated' },
            { name: 'project-data', paths: ['/projects/{project}/**'], roles: ['user', 'manager'] },
            { name: 'submit', paths: ['re:^/api/v[0-9]+/runs$'], methods: ['POST'], roles: ['api'], quota: { requests: 2, per: '1h' } },
            { name: 'machines', paths: ['/machines/**'], policy: 'grant' },
            { name: 'constructor', paths: ['/ctor/**'], roles: ['api'], quota: { requests: 2, per: '1h' } },
            { name: 'reads', paths: ['/data/**'], methods: ['GET', 'HEAD'], roles: ['readonly', 'user'] },
            { name: 'writes', paths: ['/data/**'], methods: ['POST', 'PUT', 'PATCH', 'DELETE'], roles: ['writeonly', 'user'] },
          ],
        },
      },
    });
    const users = gw.registry.users;
    await users.create({ username: 'alice', password: 'Alice-Passw0rd', roles: ['user'], projects: ['alpha'] }, undefined);
    await users.create({ username: 'bob', password: 'Bob-Passw0rd', roles: ['user'], projects: ['beta'] }, undefined);
    await users.create({ username: 'robot', password: 'Robot-Passw0rd', roles: ['api'] }, undefined);
    await users.create({ username: 'reader', password: 'Reader-Passw0rd', roles: ['readonly'] }, undefined);
    await users.create({ username: 'mach', password: 'Mach-Passw0rd', roles: ['user'], grants: [{ paths: ['/machines/m1/**'], methods: ['GET'] }] }, undefined);
  });
  after(() => gw?.close());

  test('{self} opens only the caller’s own data', async () => {
    assert.equal((await gw.fetch('/users/alice/files', as('alice'))).status, 200);
    assert.equal((await gw.fetch('/users/ALICE/files', as('alice'))).status, 200);
    assert.equal((await gw.fetch('/users/bob/files', as('alice'))).status, 403);
  });

  test('{project} opens only the caller’s projects', async () => {
    assert.equal((await gw.fetch('/projects/alpha/jobs', as('alice'))).status, 200);
    assert.equal((await gw.fetch('/projects/beta/jobs', as('alice'))).status, 403);
    assert.equal((await gw.fetch('/projects/beta/jobs', as('bob'))).status, 200);
  });

  test('a grant rule needs a stored grant matching path and method', async () => {
    assert.equal((await gw.fetch('/machines/m1/status', as('mach'))).status, 200);
    assert.equal((await gw.fetch('/machines/m1/status', { ...as('mach'), method: 'POST' })).status, 403);
    assert.equal((await gw.fetch('/machines/m2/status', as('mach'))).status, 403);
    assert.equal((await gw.fetch('/machines/m1/status', as('alice'))).status, 403);
  });

  test('readonly users may GET but not POST; the quota answers 429 with Retry-After', async () => {
    assert.equal((await gw.fetch('/data/x', as('reader'))).status, 200);
    assert.equal((await gw.fetch('/data/x', { ...as('reader'), method: 'POST' })).status, 403);
    assert.equal((await gw.fetch('/api/v1/runs', { ...as('robot'), method: 'POST' })).status, 200);
    assert.equal((await gw.fetch('/api/v1/runs', { ...as('robot'), method: 'POST' })).status, 200);
    const over = await gw.fetch('/api/v1/runs', { ...as('robot'), method: 'POST' });
    assert.equal(over.status, 429);
    assert.ok(Number(over.headers.get('retry-after')) > 0);
    assert.equal((await gw.fetch('/api/v1/runs', { ...as('alice'), method: 'POST' })).status, 403, 'the quota rule also needs the role');
  });

  test('a user record may override a rule quota', async () => {
    await gw.registry.users.create({ username: 'robot2', password: 'Robot2-Passw0rd', roles: ['api'], quotas: { submit: 1 } }, undefined);
    const robot2 = { headers: { authorization: 'Basic ' + Buffer.from('robot2:Robot2-Passw0rd').toString('base64') }, method: 'POST' };
    assert.equal((await gw.fetch('/api/v1/runs', robot2)).status, 200);
    assert.equal((await gw.fetch('/api/v1/runs', robot2)).status, 429);
  });

  test('a rule named like an Object.prototype member still counts its quota (no inherited override)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await gw.fetch('/ctor/x', as('robot'))).status);
    assert.deepEqual(statuses, [200, 200, 429]);
  });

  test('public rules need no credentials but still verify the ones sent', async () => {
    assert.equal((await gw.fetch('/badges/a.svg')).status, 200);
    const bad = await gw.fetch('/badges/a.svg', { headers: { authorization: 'Basic ' + Buffer.from('alice:wrong').toString('base64') } });
    assert.equal(bad.status, 401);
    const good = await gw.fetch('/badges/a.svg', as('alice'));
    assert.equal(((await good.json()) as { headers: Record<string, string> }).headers['x-auth-user'], 'alice');
  });

  test('the default policy denies what no rule matches, and denials are counted', async () => {
    assert.equal((await gw.fetch('/elsewhere', as('alice'))).status, 403);
    const metrics = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
    assert.match(metrics, /portcullis_access_denied_total\{rule="default",reason="default_deny"\} \d+/);
    assert.match(metrics, /portcullis_requests_total\{route="echo",rule="default",status="403"\} \d+/);
    assert.ok(!metrics.includes('alice'), 'no usernames in labels');
  });
});

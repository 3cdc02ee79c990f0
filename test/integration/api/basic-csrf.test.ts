import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

describe('the API and ambient Basic credentials', () => {
  let gw: TestGateway;
  const basic = 'Basic ' + Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64');
  const form = 'username=mallory&password=Mallory-Passw0rd1&roles=admin';

  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    await gw?.close();
  });

  test('a cross-site browser request with Basic credentials cannot change state', async () => {
    for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { origin: 'https://evil.example' }, { 'sec-fetch-site': 'same-site' }] as Record<string, string>[]) {
      const res = await gw.fetch('/.auth/api/users', {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ username: 'mallory', password: 'Mallory-Passw0rd1', roles: ['admin'] }),
      });
      assert.equal(res.status, 403, JSON.stringify(headers));
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'csrf_rejected');
    }
    assert.equal(await gw.registry.store.getUser('mallory'), undefined);
  });

  test('bodies an HTML form can send are refused with 415, whoever sends them', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
      const res = await gw.fetch('/.auth/api/users', { method: 'POST', headers: { authorization: basic, 'content-type': type }, body: form });
      assert.equal(res.status, 415, type);
    }
    assert.equal(await gw.registry.store.getUser('mallory'), undefined);
  });

  test('scripts with Basic (no Origin, JSON) and same-origin pages still work', async () => {
    const script = await gw.fetch('/.auth/api/users', {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'scripted', password: 'Scripted-Passw0rd1', roles: ['user'] }),
    });
    assert.equal(script.status, 201);
    const page = await gw.fetch('/.auth/api/users/scripted', { method: 'DELETE', headers: { authorization: basic, 'sec-fetch-site': 'same-origin' } });
    assert.equal(page.status, 204);
  });
});

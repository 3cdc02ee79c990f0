import { strict as assert } from 'node:assert';
import { after, before, describe, test } from 'node:test';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

interface Answer {
  status: number;
  json: { attributes?: Record<string, string[]>; error?: { code: string; fields?: Record<string, string> } };
}

describe('user attributes through the admin API (SPEC 16)', () => {
  let gw: TestGateway;
  let cookie: string;
  const api = async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await gw.fetch(`/.auth/api${path}`, {
      method,
      headers: { cookie, 'x-requested-with': 'portcullis', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Answer['json']) : {} };
  };

  before(async () => {
    gw = await startGateway();
    cookie = await gw.login('admin', ADMIN_PASSWORD);
  });
  after(() => gw?.close());

  test('POST stores attributes and the user JSON carries them; a user created without any has {}', async () => {
    const created = await api('POST', '/users', { username: 'gmt', password: 'Gmt-Passw0rd', roles: ['user'], attributes: { machines: ['7', '9'], retention_days: ['365'] } });
    assert.equal(created.status, 201);
    assert.deepEqual(created.json.attributes, { machines: ['7', '9'], retention_days: ['365'] });
    assert.deepEqual((await api('GET', '/users/gmt')).json.attributes, { machines: ['7', '9'], retention_days: ['365'] });
    assert.deepEqual((await api('POST', '/users', { username: 'plain', password: 'Plain-Passw0rd', roles: ['user'] })).json.attributes, {});
    const bad = await api('POST', '/users', { username: 'badattr', password: 'Bad-Passw0rd1', roles: ['user'], attributes: { Machines: ['7'] } });
    assert.equal(bad.status, 400);
    assert.ok(bad.json.error?.fields?.['attributes.Machines']);
    assert.equal((await api('GET', '/users/badattr')).status, 404);
  });

  test('PATCH replaces the whole object and UserUpdated lists attributes among the changed fields', async () => {
    const patched = await api('PATCH', '/users/gmt', { attributes: { optimizations: ['cpu', 'mem'] } });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.json.attributes, { optimizations: ['cpu', 'mem'] });
    const event = gw.events.findLast((e) => e.event === 'UserUpdated' && e.username === 'gmt');
    assert.deepEqual(event?.changed, ['attributes']);
    const cleared = await api('PATCH', '/users/gmt', { attributes: {} });
    assert.deepEqual(cleared.json.attributes, {});
  });

  test('an invalid PATCH answers 400 validation_failed keyed attributes.KEY or attributes, and changes nothing', async () => {
    await api('PATCH', '/users/gmt', { attributes: { machines: ['7'] } });
    const tooMany = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, ['v']]));
    const cases: Array<[unknown, string]> = [
      [{ machines: ['7'], bad_values: 'x' }, 'attributes.bad_values'],
      [{ machines: [] }, 'attributes.machines'],
      [{ machines: [7] }, 'attributes.machines'],
      [{ machines: ['x'.repeat(257)] }, 'attributes.machines'],
      [{ machines: Array.from({ length: 65 }, (_, i) => String(i)) }, 'attributes.machines'],
      [{ '9lives': ['1'] }, 'attributes.9lives'],
      [tooMany, 'attributes'],
      [['machines'], 'attributes'],
      ['machines=7', 'attributes'],
    ];
    for (const [attributes, key] of cases) {
      const res = await api('PATCH', '/users/gmt', { name: 'Changed', attributes });
      assert.equal(res.status, 400, JSON.stringify(attributes).slice(0, 80));
      assert.equal(res.json.error?.code, 'validation_failed');
      assert.deepEqual(Object.keys(res.json.error?.fields ?? {}), [key], JSON.stringify(res.json.error?.fields));
    }
    const after = await api('GET', '/users/gmt');
    assert.deepEqual(after.json.attributes, { machines: ['7'] });
    assert.equal((after.json as { name?: string }).name, '');
  });
});

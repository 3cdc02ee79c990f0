import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway } from '../../helpers/gateway.js';

// `curl -u "$TOKEN:"` sends a valid API token as the Basic username: it fails, and the failure
// must not write the token into the log, the events table (read by every admin) or a webhook.
test('an API token or a JWT sent as a username is not written to the audit trail', async () => {
  const gw = await startGateway();
  try {
    const created = await gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    const { token } = (await created.json()) as { token: string };
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLWJ5dGVz';
    assert.equal((await gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from(`${token}:`).toString('base64') } })).status, 401);
    assert.equal((await gw.fetch('/x', { headers: { authorization: 'Basic ' + Buffer.from(`${token}:x`).toString('base64') } })).status, 401);
    const form = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: jwt, password: 'whatever' }) });
    assert.equal(form.status, 401);
    const failures = gw.events.filter((e) => e.event === 'UserLoginFailed');
    assert.equal(failures.length, 3);
    for (const event of failures) assert.match(event.username, /^\(redacted: a credential, \d+ characters\)$/);
    const stored = await gw.fetch('/.auth/api/events?limit=100', { headers: { 'x-authentication': token } });
    assert.equal(stored.status, 200);
    const text = await stored.text();
    assert.ok(text.includes('redacted: a credential'), 'the failures are in the store');
    for (const secret of [token, token.slice(4, 24), jwt.split('.')[2] as string]) {
      assert.ok(!text.includes(secret), 'events table');
      assert.ok(!gw.logs.some((line) => line.includes(secret)), 'log');
    }
  } finally {
    await gw.close();
  }
});

/**
 * POST /.auth/api/me/password: a wrong current password is a failed login for lockout (SPEC 3),
 * with its UserLoginFailed event; while the name is locked the change is refused, and so is a
 * login with the right password.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../../helpers/gateway.js';

let gw: TestGateway;

before(async () => {
  gw = await startGateway();
});
after(() => gw?.close());

async function tokenOf(username: string, password: string): Promise<Response> {
  return gw.fetch('/.auth/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
}

async function changePassword(token: string, current: string, next: string): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await gw.fetch('/.auth/api/me/password', {
    method: 'POST',
    headers: { 'x-authentication': token, 'content-type': 'application/json' },
    body: JSON.stringify({ current_password: current, new_password: next }),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

test('wrong current passwords count toward lockout, emit UserLoginFailed and then lock the change and the login', async () => {
  await gw.registry.users.create({ username: 'carol', password: 'Carol-Passw0rd!', roles: ['user'] }, { username: 'admin' });
  const token = ((await (await tokenOf('carol', 'Carol-Passw0rd!')).json()) as { token: string }).token;
  const max = gw.registry.config.users.lockout.max_failures;
  for (let i = 0; i < max; i++) {
    const wrong = await changePassword(token, `Guess-${i}-Passw0rd!`, 'Next-Passw0rd1!');
    assert.equal(wrong.status, 400, `attempt ${i}`);
    assert.equal(wrong.json.error.fields.current_password, 'is not correct');
  }
  const failed = gw.events.filter((e) => e.event === 'UserLoginFailed' && e.username === 'carol');
  assert.equal(failed.length, max);
  assert.ok(failed.every((e) => e.reason === 'bad_password' && e.user_type === 'local' && typeof e.request_id === 'string'));
  assert.ok(!JSON.stringify(failed).includes('Guess-'), 'no password in an event');

  const locked = await changePassword(token, 'Carol-Passw0rd!', 'Next-Passw0rd1!');
  assert.equal(locked.status, 429, 'the right current password is refused while locked');
  assert.equal(locked.json.error.code, 'too_many_requests');
  assert.ok(Number(locked.headers.get('retry-after')) > 0);
  assert.equal(gw.events.filter((e) => e.event === 'UserLoginFailed' && e.username === 'carol').at(-1)?.reason, 'locked_out');
  assert.equal((await tokenOf('carol', 'Carol-Passw0rd!')).status, 401, 'the name is locked for logins too');
  assert.ok(!gw.events.some((e) => e.event === 'PasswordChanged' && e.username === 'carol'));
  assert.equal((await gw.fetch('/.auth/me', { headers: { 'x-authentication': token } })).status, 200, 'the existing token still works');
});

test('a correct current password clears earlier failures and changes the password', async () => {
  await gw.registry.users.create({ username: 'dan', password: 'Dan-Passw0rd!', roles: ['user'] }, { username: 'admin' });
  const token = ((await (await tokenOf('dan', 'Dan-Passw0rd!')).json()) as { token: string }).token;
  const max = gw.registry.config.users.lockout.max_failures;
  for (let i = 0; i < max - 1; i++) assert.equal((await changePassword(token, 'Wrong-Passw0rd!', 'Next-Passw0rd1!')).status, 400);
  assert.equal((await changePassword(token, 'Dan-Passw0rd!', 'Next-Passw0rd1!')).status, 200);
  assert.equal((await changePassword(token, 'Next-Passw0rd1!', 'Other-Passw0rd2!')).status, 401, 'the change ended the token');
  const again = ((await (await tokenOf('dan', 'Next-Passw0rd1!')).json()) as { token: string }).token;
  assert.equal((await changePassword(again, 'Wrong-Passw0rd!', 'Other-Passw0rd2!')).status, 400, 'one failure after a success does not lock');
  assert.equal((await changePassword(again, 'Next-Passw0rd1!', 'Other-Passw0rd2!')).status, 200);
  assert.equal((await tokenOf('admin', ADMIN_PASSWORD)).status, 201);
});

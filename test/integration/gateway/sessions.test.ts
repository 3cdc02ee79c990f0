import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.js';

const form = (fields: Record<string, string>): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
  body: new URLSearchParams(fields).toString(),
});

function sessionCookie(res: Response): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith('portcullis_session='));
}

describe('login, sessions and logout', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway();
    await gw.registry.users.create({ username: 'alice', password: 'Alice-Passw0rd', roles: ['user'], projects: ['alpha'] }, undefined);
  });
  after(() => gw?.close());

  test('a browser without a session is sent to the login page with its path as rd', async () => {
    const res = await gw.fetch('/jobs/42?x=1', { headers: { accept: 'text/html' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/.auth/login?rd=%2Fjobs%2F42%3Fx%3D1');
    const page = await gw.fetch('/.auth/login?rd=%2Fjobs%2F42');
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /name="rd" value="\/jobs\/42"/);
    assert.match(html, /name="password" type="password"/);
  });

  test('an API client without credentials gets 401 JSON with WWW-Authenticate', async () => {
    const res = await gw.fetch('/jobs');
    assert.equal(res.status, 401);
    assert.ok(res.headers.get('www-authenticate'));
    const body = (await res.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'unauthenticated');
  });

  test('form login sets a hardened cookie, redirects to rd and the echo shows the identity', async () => {
    const res = await gw.fetch('/.auth/login', form({ username: 'alice', password: 'Alice-Passw0rd', rd: '/jobs/42' }));
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/jobs/42');
    const cookie = sessionCookie(res) as string;
    assert.match(cookie, /^portcullis_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const echo = await gw.fetch('/jobs/42', { headers: { cookie: cookie.split(';')[0] as string } });
    assert.equal(echo.status, 200);
    const seen = (await echo.json()) as { path: string; headers: Record<string, string> };
    assert.equal(seen.path, '/jobs/42');
    assert.equal(seen.headers['x-auth-user'], 'alice');
    assert.equal(seen.headers['x-auth-roles'], 'user');
    assert.equal(seen.headers['x-auth-projects'], 'alpha');
    assert.equal(seen.headers['x-auth-source'], 'local');
    assert.equal(seen.headers.cookie, undefined, 'the session cookie is not forwarded');
  });

  test('rd never redirects to another origin', async () => {
    for (const rd of ['https://evil.example/', '//evil.example', '/\\evil.example', '/%2F%2Fevil.example']) {
      const res = await gw.fetch('/.auth/login', form({ username: 'alice', password: 'Alice-Passw0rd', rd }));
      assert.equal(res.status, 303);
      assert.equal(res.headers.get('location'), '/', rd);
    }
  });

  test('every login gets a new session id and a planted cookie is never adopted (no fixation)', async () => {
    const planted = 'portcullis_session=' + 'A'.repeat(43);
    const res = await gw.fetch('/.auth/login', { ...form({ username: 'alice', password: 'Alice-Passw0rd' }), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: planted } });
    const issued = (sessionCookie(res) as string).split(';')[0] as string;
    assert.notEqual(issued, planted);
    const again = await gw.fetch('/.auth/login', { ...form({ username: 'alice', password: 'Alice-Passw0rd' }), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: issued } });
    const second = (sessionCookie(again) as string).split(';')[0] as string;
    assert.notEqual(second, issued);
    const old = await gw.fetch('/.auth/me', { headers: { cookie: issued } });
    assert.equal(old.status, 401, 'the session a login replaced has ended');
  });

  test('wrong password and unknown user get the same status and body', async () => {
    const wrong = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice', password: 'nope' }) });
    const unknown = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'nobody', password: 'nope' }) });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    const a = await wrong.text();
    const b = await unknown.text();
    assert.equal(a, b);
    assert.match(a, /Invalid username or password/);
    const failed = gw.events.filter((e) => e.event === 'UserLoginFailed');
    assert.ok(failed.some((e) => e.username === 'alice' && e.reason === 'bad_password' && e.user_type === 'local'));
    assert.ok(failed.some((e) => e.username === 'nobody' && e.reason === 'unknown_user'));
  });

  test('logout ends the session server-side, not only in the browser', async () => {
    const cookie = await gw.login('alice', 'Alice-Passw0rd');
    assert.equal((await gw.fetch('/.auth/me', { headers: { cookie } })).status, 200);
    const out = await gw.fetch('/.auth/logout', { method: 'POST', headers: { cookie } });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
    assert.equal((await gw.fetch('/.auth/me', { headers: { cookie } })).status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoggedOut' && e.username === 'alice'));
  });

  test('a cross-site form post cannot log a browser in (login CSRF)', async () => {
    const res = await gw.fetch('/.auth/login', {
      ...form({ username: 'alice', password: 'Alice-Passw0rd' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(res.status, 403);
    assert.equal(sessionCookie(res), undefined);
  });

  test('an invalid session cookie counts as absent and is cleared', async () => {
    const res = await gw.fetch('/jobs', { headers: { cookie: 'portcullis_session=' + 'B'.repeat(43) } });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('set-cookie') ?? '', /portcullis_session=; Path=\/; Max-Age=0/);
  });

  test('/.auth/me answers the identity JSON of SPEC 4', async () => {
    const cookie = await gw.login('alice', 'Alice-Passw0rd');
    const me = (await (await gw.fetch('/.auth/me', { headers: { cookie } })).json()) as Record<string, unknown>;
    assert.deepEqual(me, { username: 'alice', name: '', email: '', roles: ['user'], projects: ['alpha'], source: 'local', attributes: {}, method: 'session' });
  });

  test('logging in with a case variant of the name is the same local user; a whitespace variant is nobody', async () => {
    const ok = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'ALICE', password: 'Alice-Passw0rd' }) });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { user: { username: string } }).user.username, 'alice');
    const spaced = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'alice ', password: 'Alice-Passw0rd' }) });
    assert.equal(spaced.status, 401);
  });

  test('an oversized login body is refused with 413 and the gateway stays up', async () => {
    const res = await gw.fetch('/.auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'a', password: 'x'.repeat(200_000) }) });
    assert.equal(res.status, 413);
    assert.equal((await gw.fetch('/.auth/healthz')).status, 200);
  });
});

describe('lockout, basic auth and timeouts', () => {
  let gw: TestGateway;
  let now = Date.now();
  before(async () => {
    gw = await startGateway({
      now: () => now,
      config: { users: { password_hash_cost: 12, lockout: { max_failures: 3, window: '15m', duration: '15m' } }, session: { idle_timeout: '10m', max_lifetime: '1h' } },
    });
    await gw.registry.users.create({ username: 'bob', password: 'Bob-Passw0rd1', roles: ['user'] }, undefined);
    await gw.registry.users.create({ username: 'carol', password: 'Carol-Passw0rd1', roles: ['user'] }, undefined);
  });
  after(() => gw?.close());

  const basic = (u: string, p: string): RequestInit => ({ headers: { authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') } });

  test('repeated failures lock the name: even the right password is refused while locked', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await gw.fetch('/x', basic('bob', 'wrong'))).status, 401);
    const locked = await gw.fetch('/x', basic('bob', 'Bob-Passw0rd1'));
    assert.equal(locked.status, 401);
    assert.ok(gw.events.some((e) => e.event === 'UserLoginFailed' && e.username === 'bob' && e.reason === 'locked_out'));
  });

  test('Basic credentials are verified once and then served from the cache', async () => {
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Passw0rd1'))).status, 200);
    const logins = gw.events.filter((e) => e.event === 'UserLoggedIn' && e.username === 'carol').length;
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Passw0rd1'))).status, 200);
    assert.equal(gw.events.filter((e) => e.event === 'UserLoggedIn' && e.username === 'carol').length, logins, 'no second verification');
    assert.equal((await gw.fetch('/x', basic('carol', 'Carol-Passw0rd2'))).status, 401, 'a different password is not a cache hit');
  });

  test('an invalid Authorization header is a 401 even on a route a session could open', async () => {
    const cookie = await gw.login('carol', 'Carol-Passw0rd1');
    const res = await gw.fetch('/x', { headers: { cookie, authorization: 'Bearer nonsense' } });
    assert.equal(res.status, 401);
    const res2 = await gw.fetch('/x', { headers: { cookie, 'x-authentication': 'pcl_nonsense' } });
    assert.equal(res2.status, 401);
  });

  test('a session ends after the idle timeout', async () => {
    const cookie = await gw.login('carol', 'Carol-Passw0rd1');
    assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 200);
    now += 11 * 60_000;
    assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401);
  });

  test('a password change ends every session of the user', async () => {
    const cookie = await gw.login('carol', 'Carol-Passw0rd1');
    await gw.registry.users.update('carol', { password: 'Carol-Passw0rd9' }, { username: 'admin' });
    assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401);
  });
});

describe('bootstrap admin and forced password change', () => {
  test('a generated admin password is printed once and forces a change at first login', async () => {
    const gw = await startGateway({ env: { PORTCULLIS_ADMIN_PASSWORD: '' } });
    try {
      const line = gw.logs.find((l) => l.startsWith('Created admin user "admin" with generated password '));
      assert.ok(line, gw.logs.join('\n'));
      const password = line.slice('Created admin user "admin" with generated password '.length).trim();
      const login = await gw.fetch('/.auth/login', form({ username: 'admin', password, rd: '/x' }));
      assert.equal(login.status, 303);
      assert.equal(login.headers.get('location'), '/.auth/password?rd=%2Fx');
      const cookie = (sessionCookie(login) as string).split(';')[0] as string;
      const blocked = await gw.fetch('/x', { headers: { cookie } });
      assert.equal(blocked.status, 403);
      assert.equal(((await blocked.json()) as { error: { code: string } }).error.code, 'password_change_required');
      const page = await gw.fetch('/.auth/password', { headers: { cookie } });
      assert.equal(page.status, 200);
      const change = await gw.fetch('/.auth/password', {
        ...form({ current_password: password, new_password: 'Brand-New-Passw0rd', rd: '/x' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      });
      assert.equal(change.status, 303);
      assert.equal(change.headers.get('location'), '/x');
      const fresh = (sessionCookie(change) as string).split(';')[0] as string;
      assert.equal((await gw.fetch('/x', { headers: { cookie: fresh } })).status, 200);
      assert.equal((await gw.fetch('/x', { headers: { cookie } })).status, 401, 'the old session ended');
      assert.ok(!gw.logs.some((l) => l.includes('Brand-New-Passw0rd')), 'no password in logs');
    } finally {
      await gw.close();
    }
  });
});

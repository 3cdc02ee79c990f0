/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { ADMIN_PASSWORD, startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-admin-ui-'));
  writeFileSync(join(dir, 'secret.key'), `${randomBytes(32).toString('hex')}\n`);
  gw = await startGateway({
    config: {
      server: { listen: '127.0.0.1:0', public_url: 'http://localhost', secret_key_file: join(dir, 'secret.key') },
      routes: [
        { name: 'gmt', path_prefix: '/gmt/', upstream: 'builtin:echo', upstream_auth: { type: 'header', name: 'X-Authentication', per_user: true } },
        { name: 'echo', path_prefix: '/', upstream: 'builtin:echo' },
      ],
    },
  });
  browser = await launchChromium();
  page = await browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  page.on('console', (msg) => {
    // The browser logs every non-2xx fetch (the first /me before signing in, the favicon).
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) pageErrors.push(msg.text());
  });
});
after(async () => {
  await browser?.close();
  await gw?.close();
});

test('an admin signs in, creates a user, finds it, edits its roles, sees its tokens, deletes it and reads the event log', async () => {
  await page.goto(`${gw.url}/.auth/admin`);
  await page.waitForURL(/\/\.auth\/login\?rd=%2F\.auth%2Fadmin/);
  await page.fill('#username', 'admin');
  await page.fill('#password', ADMIN_PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('#users tr[data-username="admin"]');
  assert.equal(await page.textContent('#me'), 'admin');

  await page.fill('#new-username', 'carol');
  await page.fill('#new-password', 'Carol-Passw0rd1');
  await page.fill('#new-name', 'Carol <script>alert(1)</script>');
  await page.fill('#new-roles', 'user, manager');
  await page.fill('#new-projects', 'alpha');
  await page.click('#create');
  await page.waitForSelector('#users tr[data-username="carol"]');
  const row = await page.textContent('#users tr[data-username="carol"]');
  assert.match(row ?? '', /Carol <script>alert\(1\)<\/script>/, 'names are shown as text, never as markup');

  await page.fill('#search', 'car');
  await page.waitForFunction(() => document.querySelectorAll('#users tr[data-username]').length === 1);

  await page.click('button[data-edit="carol"]');
  await page.waitForSelector('#edit-user');
  await page.fill('#edit-roles', 'readonly');
  await page.fill('#edit-attributes', 'machines=7, 9\nretention_days=365');
  await page.click('#save');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Saved carol');
  assert.deepEqual((await gw.registry.store.getUser('carol'))?.roles, ['readonly']);
  assert.deepEqual((await gw.registry.store.getUser('carol'))?.attributes, { machines: ['7', '9'], retention_days: ['365'] });
  await page.click('#back');
  await page.click('button[data-edit="carol"]');
  await page.waitForSelector('#edit-user');
  assert.equal(await page.inputValue('#edit-attributes'), 'machines=7,9\nretention_days=365');
  assert.ok(await page.$('#tokens'));

  page.once('dialog', (dialog) => void dialog.accept());
  await page.click('#delete');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Deleted carol');
  assert.equal(await gw.registry.store.getUser('carol'), undefined);

  await page.click('#nav-events');
  await page.waitForSelector('#events tr td');
  await page.selectOption('#event-type', 'UserDeleted');
  await page.click('#filter');
  await page.waitForFunction(
    () => [...document.querySelectorAll('#events tr td:nth-child(2)')].every((td) => td.textContent === 'UserDeleted') && document.querySelectorAll('#events tr td').length > 0,
  );
  assert.match((await page.textContent('#events')) ?? '', /carol/);
  assert.deepEqual(pageErrors, []);
});

test('a guardrail refusal is shown to the admin', async () => {
  await page.click('#nav-users');
  await page.fill('#search', '');
  await page.waitForSelector('button[data-edit="admin"]');
  await page.click('button[data-edit="admin"]');
  await page.waitForSelector('#edit-user');
  await page.check('#edit-disabled');
  await page.click('#save');
  await page.waitForFunction(() => /cannot disable your own account/.test(document.querySelector('#status')?.textContent ?? ''));
  assert.equal((await gw.registry.store.getUser('admin'))?.disabled, false);
});

test('an admin creates a read-only token scoped to paths in the UI; the secret is shown once and the scope holds', async () => {
  await page.click('#nav-users');
  await page.waitForSelector('button[data-edit="admin"]');
  await page.click('button[data-edit="admin"]');
  await page.waitForSelector('#create-token');
  await page.fill('#token-name', 'dashboards');
  await page.check('#token-read-only');
  await page.fill('#token-scope-paths', '/grafana/**, /api/dashboards/**');
  await page.click('#create-token-submit');
  await page.waitForFunction(() => (document.querySelector('#token-secret')?.textContent ?? '').startsWith('pcl_'));
  const token = (await page.textContent('#token-secret')) ?? '';
  await page.waitForFunction(() => /read-only \/grafana\/\*\*,\/api\/dashboards\/\*\*/.test(document.querySelector('#tokens')?.textContent ?? ''));
  const use = (method: string, path: string): Promise<number> => gw.fetch(path, { method, headers: { 'x-authentication': token } }).then((r) => r.status);
  assert.equal(await use('GET', '/grafana/d/1'), 200);
  assert.equal(await use('POST', '/grafana/d/1'), 403, 'read-only');
  assert.equal(await use('GET', '/other'), 403, 'outside its scope');
  assert.deepEqual(pageErrors, []);
});

test('an admin sets a per-user backend credential in the user view: stored, sent upstream, never shown back', async () => {
  const secret = 'gmt-Token-from-the-UI-0123456789';
  await gw.registry.users.create({ username: 'ivy', password: 'Ivy-Passw0rd-1', roles: ['user'] }, undefined);
  await page.click('#nav-users');
  await page.fill('#search', 'ivy');
  await page.waitForSelector('button[data-edit="ivy"]');
  await page.click('button[data-edit="ivy"]');
  await page.waitForSelector('#cred-gmt');
  assert.equal(await page.getAttribute('#cred-gmt', 'type'), 'password');
  assert.equal(await page.textContent('[data-credential-status="gmt"]'), 'none');
  await page.fill('#cred-gmt', secret);
  await page.click('button[data-credential-set="gmt"]');
  await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Stored the gmt credential of ivy');
  assert.deepEqual(await gw.registry.store.listUpstreamCredentialRoutes('ivy'), ['gmt']);
  const echoed = (await (await gw.fetch('/gmt/x', { headers: { authorization: 'Basic ' + Buffer.from('ivy:Ivy-Passw0rd-1').toString('base64') } })).json()) as { headers: Record<string, string> };
  assert.equal(echoed.headers['x-authentication'], secret);
  // Reopened: the route shows as stored, the field is empty, the value is nowhere in the page.
  await page.click('#back');
  await page.click('button[data-edit="ivy"]');
  await page.waitForSelector('#cred-gmt');
  assert.equal(await page.inputValue('#cred-gmt'), '');
  assert.equal(await page.textContent('[data-credential-status="gmt"]'), 'stored');
  assert.ok(!(await page.content()).includes(secret));
  await page.click('button[data-credential-delete="gmt"]');
  await page.waitForFunction(() => document.querySelector('[data-credential-status="gmt"]')?.textContent === 'none');
  assert.deepEqual(await gw.registry.store.listUpstreamCredentialRoutes('ivy'), []);
  assert.deepEqual(pageErrors, []);
});

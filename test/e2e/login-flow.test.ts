import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';

let gw: TestGateway;
let browser: Browser;

before(async () => {
  gw = await startGateway({ env: { PORTCULLIS_ADMIN_PASSWORD: '' } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await gw?.close();
});

test('a person signs in with the generated admin password, must change it, then reaches the page they asked for', async () => {
  const line = gw.logs.find((l) => l.startsWith('Created admin user "admin" with generated password ')) as string;
  const generated = line.trim().split(' ').pop() as string;
  const page = await browser.newPage();
  await page.goto(`${gw.url}/jobs/42?tab=log`);
  assert.match(page.url(), /\/\.auth\/login\?rd=%2Fjobs%2F42%3Ftab%3Dlog$/);
  await page.fill('#username', 'admin');
  await page.fill('#password', 'wrong');
  await page.click('button[type=submit]');
  assert.match((await page.textContent('[role=alert]')) ?? '', /Invalid username or password/);
  await page.fill('#password', generated);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/\.auth\/password/);
  await page.fill('#current_password', generated);
  await page.fill('#new_password', 'short');
  await page.click('button[type=submit]');
  assert.match((await page.textContent('[role=alert]')) ?? '', /at least 8 characters/);
  await page.fill('#current_password', generated);
  await page.fill('#new_password', 'A-Fresh-Passw0rd');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/jobs\/42\?tab=log$/);
  const echo = JSON.parse((await page.textContent('body')) ?? '{}') as { path: string; headers: Record<string, string> };
  assert.equal(echo.path, '/jobs/42');
  assert.equal(echo.headers['x-auth-user'], 'admin');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'portcullis_session');
  assert.equal(session?.httpOnly, true);
  assert.equal(session?.sameSite, 'Lax');
  await page.close();
});

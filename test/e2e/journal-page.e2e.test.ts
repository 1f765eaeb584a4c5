import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { startE2eStack, type E2eStack } from './stack';

const SCREENSHOTS = join(process.cwd(), 'test-results', 'journal-page');

let stack: E2eStack;
let browser: Browser;

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  stack = await startE2eStack();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser.close();
  await stack.stop();
});

void it('V2, V5, V6: the teacher starts the video lesson, sees the join link, ends it, and the link is gone', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, locale: 'ru-RU' });
  const url = `${stack.baseUrl}/journals/${stack.journalId}/page?token=${encodeURIComponent(stack.teacherToken)}`;
  await page.goto(url);

  await page.locator('tr[data-lesson-id="l-1"]').waitFor();
  assert.ok(!page.url().includes('token='), 'the token leaves the address bar once stored');
  await page.screenshot({ path: join(SCREENSHOTS, '1-opened.png'), fullPage: true });

  const start = page.locator('#start');
  assert.equal(await start.textContent(), 'Начать видеоурок');
  await start.click();
  const link = page.locator('#join-link');
  await link.waitFor({ state: 'visible' });
  assert.match((await link.getAttribute('href')) ?? '', /^https:\/\/vk\.com\/call\/join\//);
  assert.equal(await page.locator('#join-button').textContent(), 'Подключиться');
  assert.match((await page.locator('#message').textContent()) ?? '', /Видеоурок начат/);
  await page.screenshot({ path: join(SCREENSHOTS, '2-started.png'), fullPage: true });

  await page.locator('#end').click();
  await link.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('#join-button').isVisible(), false);
  assert.match((await page.locator('#call-status').textContent()) ?? '', /не идёт/);
  await page.screenshot({ path: join(SCREENSHOTS, '3-ended.png'), fullPage: true });

  await page.reload();
  await page.locator('tr[data-lesson-id="l-1"]').waitFor();
  assert.equal(await page.locator('#start').isEnabled(), true, 'the stored token still works after a reload');
  await page.close();
});

void it('the school page shows the last run, approves the held plan, and lists people without a VK ID', async () => {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'ru-RU' });
  await page.goto(`${stack.baseUrl}/schools/${stack.schoolId}/page?token=${encodeURIComponent(stack.adminKey)}`);
  await page.locator('#held').waitFor({ state: 'visible' });
  assert.match((await page.locator('#last-run').textContent()) ?? '', /создано чатов 4/);
  await page.locator('#no-vk-id details').first().waitFor();
  await page.locator('#no-vk-id details').first().click();
  assert.match((await page.locator('#no-vk-id').textContent()) ?? '', /t-2/);
  assert.equal(await page.locator('#audit-link').getAttribute('href'), `/schools/${stack.schoolId}/audit`);
  await page.screenshot({ path: join(SCREENSHOTS, '4-school-held.png'), fullPage: true });

  await page.locator('#approve').click();
  await page.locator('#held').waitFor({ state: 'hidden' });
  assert.match((await page.locator('#message').textContent()) ?? '', /План одобрен/);
  await page.screenshot({ path: join(SCREENSHOTS, '5-school-approved.png'), fullPage: true });
  await page.close();
});

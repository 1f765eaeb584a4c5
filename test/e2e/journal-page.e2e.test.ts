import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { importChangeSet } from '../../src/store/roster-import';
import { createSyncStore } from '../../src/store/sync-store';
import { chatKeys } from '../../src/domain/chat-plan';
import type { TestServices } from '../support/services';
import { launchChromium } from './browser';
import { acquireServices, eventually, startE2eStack, type E2eStack } from './stack';

/**
 * The journal and school pages in Debian's Chromium over the real system: API, Temporal dev
 * server, the call and sync workflows on a worker with the production activities, MongoDB and the
 * VK API emulator.
 */
const SCREENSHOTS = join(process.cwd(), 'test-results', 'journal-page');

let services: (TestServices & { stop(): Promise<void> }) | undefined;
let e2e: E2eStack | undefined;
let browser: Browser | undefined;

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  services = await acquireServices();
  // Any removal holds the plan, so the school page has a held plan to approve.
  e2e = await startE2eStack(services, { removalThreshold: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await e2e?.stop();
  await services?.stop();
});

function ready(): { e2e: E2eStack; browser: Browser } {
  if (!e2e || !browser) throw new Error('the stack did not start');
  return { e2e, browser };
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent()) ?? '';
}

void it('V2, V4, V5, V6: the teacher starts the video lesson, the link reaches the subject chat, the teacher ends it', async () => {
  const { e2e, browser } = ready();
  const { stack } = e2e;
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 }, locale: 'ru-RU' });
  try {
    await page.goto(
      `${e2e.baseUrl}/journals/${e2e.journalId}/page?token=${encodeURIComponent(e2e.teacherToken)}`,
    );
    const row = page.locator(`tr[data-lesson-id="${e2e.lessonId}"]`);
    await row.waitFor();
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar once stored');
    await row.locator('input[type="radio"]').check();
    await page.screenshot({ path: join(SCREENSHOTS, '1-opened.png'), fullPage: true });

    const start = page.locator('#start');
    assert.equal(await start.textContent(), 'Начать видеоурок');
    await start.click();
    const link = page.locator('#join-link');
    await link.waitFor({ state: 'visible', timeout: 30_000 });
    const joinLink = (await link.getAttribute('href')) ?? '';
    assert.match(joinLink, /^https:\/\/vk\.com\/call\/join\//);
    assert.equal(await page.locator('#join-button').textContent(), 'Подключиться');
    assert.equal(await page.locator('#join-button').getAttribute('href'), joinLink);
    assert.match(await text(page, '#message'), /Видеоурок начат/);
    await page.screenshot({ path: join(SCREENSHOTS, '2-started.png'), fullPage: true });

    // The emulator: one active call with this link, and the link posted in the subject chat (V4).
    const dump = stack.emulator.snapshot();
    const active = dump.calls.filter(
      (c) => c.communityId === e2e.communityId && c.status === 'active',
    );
    assert.equal(active.length, 1, 'one call per journal (V3)');
    assert.equal(active[0]?.joinLink, joinLink);
    const subjectChat = await createSyncStore(stack.db).getChat(
      e2e.schoolId,
      chatKeys.subject(e2e.journalId),
    );
    assert.ok(subjectChat?.chatId, 'the subject chat was created for its first online lesson (C2)');
    const posted = dump.messages.filter(
      (m) => m.communityId === e2e.communityId && m.text.includes(joinLink),
    );
    assert.equal(posted.length, 1, 'the link is posted once');
    assert.equal(posted[0]?.chatId, subjectChat.chatId, 'in the subject chat');
    assert.match(posted[0]?.text ?? '', /^Видеоурок «.+», \d+-й урок\. Подключиться: /);

    await page.locator('#end').click();
    await link.waitFor({ state: 'hidden', timeout: 30_000 });
    assert.equal(await page.locator('#join-button').isVisible(), false);
    assert.match(await text(page, '#call-status'), /не идёт/);
    assert.match(await text(page, '#message'), /Видеоурок завершён/);
    await page.screenshot({ path: join(SCREENSHOTS, '3-ended.png'), fullPage: true });
    const call = stack.emulator.snapshot().calls.find((c) => c.joinLink === joinLink);
    assert.equal(call?.status, 'finished');
    assert.equal(call?.finishedBy, 'api');

    await page.reload();
    await row.waitFor();
    assert.match(await text(page, '#call-status'), /не идёт/, 'the workflow agrees after a reload');
    assert.equal(await page.locator('#start').isDisabled(), false, 'the stored token still works');

    // The API counts the button presses by route pattern, never by the journal in the URL.
    const metrics = await (await fetch(`${e2e.baseUrl}/metrics`)).text();
    assert.match(
      metrics,
      /sferum_api_requests_total\{method="POST",route="\/journals\/:id\/call\/start",status="200"\} 1/,
    );
    assert.ok(!metrics.includes(e2e.journalId), 'no journal ID in the metric labels');
  } finally {
    await page.close();
  }
});

void it('the school page (opened with ?key=) shows the last run, approves a held plan, and lists people without a VK ID', async () => {
  const { e2e, browser } = ready();
  const { stack, schoolId } = e2e;
  // The import started the school's sync workflow; its first run creates the chats.
  const first = await eventually(
    'the first sync run',
    async () => (await stack.gateway.syncStatus(schoolId))?.lastRun ?? undefined,
    { timeoutMs: 90_000 },
  );
  assert.ok(first.chatsCreated > 0);
  // Eleven students unlink their VK IDs: a removal above the guard's floor of ten people, which
  // the zero threshold holds for approval (C3).
  const students = e2e.roster.students.filter((s) => s.vkId !== null && s.active).slice(0, 11);
  assert.equal(students.length, 11, 'the demo school has eleven students with a VK ID');
  await importChangeSet({
    db: stack.db,
    input: {
      schoolId,
      upsert: { students: students.map((s) => ({ ...s, vkId: null })) },
      remove: {},
    },
    events: { rosterChanged: (e) => stack.gateway.rosterChanged(e) },
  });
  const held = await eventually(
    'the plan held for approval',
    async () => (await stack.gateway.syncStatus(schoolId))?.heldPlan ?? undefined,
    { timeoutMs: 60_000 },
  );

  // docs/operating.md: `SyncState="held"` finds the school in the Web UI's list.
  await eventually('the school in SyncState="held"', async () => {
    const query = `SyncState="held" AND SchoolId="${schoolId}"`;
    for await (const wf of stack.client.workflow.list({ query })) {
      if (wf.workflowId === `school-sync-${schoolId}`) return true;
    }
    return undefined;
  });

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, locale: 'ru-RU' });
  try {
    await page.goto(
      `${e2e.baseUrl}/schools/${schoolId}/page?key=${encodeURIComponent(e2e.adminKey)}`,
    );
    await page.locator('#held').waitFor({ state: 'visible' });
    assert.ok(!page.url().includes('key='), 'the admin key leaves the address bar once stored');
    // The run that held the removals applied the rest of its plan (C3): it is the last run now.
    const lastRun = (await stack.gateway.syncStatus(schoolId))?.lastRun;
    assert.ok(lastRun && lastRun.runId !== first.runId, 'the held run is recorded as a run');
    assert.match(
      await text(page, '#last-run'),
      new RegExp(`создано чатов ${lastRun.chatsCreated}`),
    );
    assert.match(await text(page, '#held-text'), new RegExp(held.planId));
    await page.locator('#no-vk-id details').first().waitFor();
    await page.locator('#no-vk-id details').first().click();
    assert.match(await text(page, '#no-vk-id'), /без VK ID/);
    assert.equal(
      await page.locator('#audit-link').getAttribute('href'),
      `/schools/${schoolId}/audit`,
    );
    await page.screenshot({ path: join(SCREENSHOTS, '4-school-held.png'), fullPage: true });

    await page.locator('#approve').click();
    await page.locator('#held').waitFor({ state: 'hidden', timeout: 30_000 });
    assert.match(await text(page, '#message'), /План одобрен/);
    await page.screenshot({ path: join(SCREENSHOTS, '5-school-approved.png'), fullPage: true });
    const status = await eventually('the approved run', async () => {
      const s = await stack.gateway.syncStatus(schoolId);
      return s && s.lastRun?.planId === held.planId ? s : undefined;
    });
    assert.equal(status.heldPlan, null);
    assert.equal(status.lastRun?.membersRemoved, held.removals);
  } finally {
    await page.close();
  }
});

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { workflowIds } from '../../src/contracts/ids';
import { epochToZonedDate } from '../../src/domain/time';
import { importSnapshot } from '../../src/store/roster-import';
import { JOURNAL_CALLS_WORKFLOW } from '../../src/contracts/ids';
import type { TestServices } from '../support/services';
import { startStack, type Stack } from '../support/stack';
import { launchChromium } from './browser';
import { acquireServices, eventually, terminateSchoolWorkflows, uniqueDemoRoster } from './stack';

/**
 * Operators find workflows in the Temporal Web UI by the registered search attributes
 * (docs/operating.md). The dev server serves the UI; Chromium drives it.
 */
const SCREENSHOTS = join(process.cwd(), 'test-results', 'web-ui');

let services: (TestServices & { stop(): Promise<void> }) | undefined;
let stack: Stack | undefined;
let browser: Browser | undefined;
let schoolId = '';
let journalId = '';
let lessonId = '';

before(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  services = await acquireServices();
  stack = await startStack({ services });
  await stack.startWorker();
  const demo = uniqueDemoRoster(Date.now(), randomBytes(4).toString('hex'));
  ({ journalId, lessonId } = demo);
  schoolId = demo.roster.school.id;
  // No community is configured and no sync is started: only the journal's workflow runs here.
  await importSnapshot({
    db: stack.db,
    input: demo.roster,
    events: { rosterChanged: () => Promise.resolve() },
  });
  await stack.gateway.ensureJournalCalls({ schoolId, journalId });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  if (stack) await terminateSchoolWorkflows(stack, schoolId);
  await stack?.stop();
  await services?.stop();
});

function uiUrl(): string {
  const url = services?.temporalUiUrl;
  if (!url) throw new Error('the Temporal dev server runs without its Web UI');
  return url.replace(/\/$/, '');
}

/** Reloads `url` until `text` shows: the list reads visibility, which lags a moment behind. */
async function openUntilVisible(
  page: Page,
  url: string,
  text: string,
  timeoutMs = 60_000,
): Promise<void> {
  await eventually(
    `"${text}" at ${url}`,
    async () => {
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      const found = page.getByText(text, { exact: true }).first();
      await found.waitFor({ state: 'visible', timeout: 5_000 });
      return true;
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

async function textInSomeFrame(page: Page, text: RegExp): Promise<void> {
  await eventually(`${String(text)} in some frame`, async () => {
    for (const frame of page.frames()) {
      const body = await frame
        .locator('body')
        .innerText({ timeout: 1_000 })
        .catch(() => '');
      if (text.test(body)) return true;
    }
    return undefined;
  });
}

void it('the journal workflow is found in the Web UI by the JournalId search attribute', async () => {
  assert.ok(browser && stack);
  const workflowId = workflowIds.journalCalls({ schoolId, journalId });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  try {
    const query = `JournalId="${journalId}"`;
    const list = `${uiUrl()}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
    await openUntilVisible(page, list, workflowId);
    assert.ok(
      await page.getByText(JOURNAL_CALLS_WORKFLOW).first().isVisible(),
      'its type is listed',
    );
    await page.screenshot({ path: join(SCREENSHOTS, '1-list-by-journal.png'), fullPage: true });

    // The workflow's own page (Web UI 2.56 shows the static summary under User Metadata, below),
    // and the timer's summary.
    const detail = `${uiUrl()}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`;
    await openUntilVisible(page, detail, workflowId, 30_000);
    // Web UI 2.56 opens on the Timeline; the timer's summary is in the Event History, rendered as
    // Markdown in a frame. Late in the Moscow evening the demo lesson is tomorrow's: the timer
    // then sleeps until the midnight re-plan, and says so.
    await page.getByText('Event History').first().click();
    const lessonToday = lessonId.endsWith(epochToZonedDate(Date.now(), 'Europe/Moscow'));
    await textInSomeFrame(
      page,
      lessonToday
        ? new RegExp(`start call for lesson ${lessonId} at `)
        : /re-plan at midnight \(today and tomorrow move\)/,
    );
    await page.screenshot({ path: join(SCREENSHOTS, '2-journal-workflow.png'), fullPage: true });

    // User Metadata: static summary and details, and the current details the workflow keeps.
    await page.getByText('User Metadata', { exact: true }).first().click();
    await page.getByText('Current Details', { exact: true }).first().waitFor();
    await textInSomeFrame(page, new RegExp(`Video lessons of journal ${journalId}`));
    // The UI renders summaries and details as Markdown, possibly inside sandboxed frames.
    await textInSomeFrame(page, /Starts a call 20 minutes before each published online lesson/);
    await textInSomeFrame(page, /No call running/);
    await page.screenshot({ path: join(SCREENSHOTS, '3-user-metadata.png'), fullPage: true });

    // Queries: `state` is offered by name and answers with the next automatic action.
    // Web UI 2.56 preselects the first query by name (`carriedState`): choose `state`.
    await page.getByText('Queries', { exact: true }).first().click();
    await page.getByTestId('query-select-button').click();
    await page.locator('#query-select-select').getByText('callState', { exact: true }).click();
    await page.getByRole('button', { name: /^(Run|Refresh) Query$/ }).click();
    await page.getByText(`"lessonId": "${lessonId}"`).first().waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, '4-query-state.png'), fullPage: true });
  } finally {
    await page.close();
  }
});

void it('the list filters in docs/operating.md answer their questions', async () => {
  assert.ok(stack);
  const client = stack.client;
  const ids = async (query: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const wf of client.workflow.list({ query })) out.push(wf.workflowId);
    return out;
  };
  const workflowId = workflowIds.journalCalls({ schoolId, journalId });
  const state = await eventually('the first plan', async () => {
    const s = await stack?.gateway.callState({ schoolId, journalId });
    return s?.next ? s : undefined;
  });
  assert.equal(state.next?.kind, 'start');
  assert.equal(state.next?.lessonId, lessonId);

  // Calls due before the next start (a minute's slack): the "next hour" filter of the docs, with
  // the window stretched for the late-evening demo whose lesson is tomorrow morning.
  const now = new Date();
  const until = new Date(Math.max(now.getTime() + 60 * 60_000, (state.next?.at ?? 0) + 60_000));
  const queries = [
    `WorkflowType="${JOURNAL_CALLS_WORKFLOW}" AND SchoolId="${schoolId}"`,
    `CallState="idle" AND SchoolId="${schoolId}"`,
    `NextActionAt BETWEEN "${now.toISOString()}" AND "${until.toISOString()}" AND SchoolId="${schoolId}"`,
  ];
  for (const query of queries) {
    await eventually(`${workflowId} in ${query}`, async () =>
      (await ids(query)).includes(workflowId) ? true : undefined,
    );
  }
  assert.deepEqual(await ids(`CallState="running" AND SchoolId="${schoolId}"`), []);
});

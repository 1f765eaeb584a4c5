import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';
import { replayDecisions, type ReplayInput } from '../../src/audit/replay-audit';
import { bundleWorkflows } from '../../src/workflow-code/bundle';
import { workflowBundle } from '../support/services';
import type { FixtureEntry } from './record-fixtures';

/**
 * Replay in CI: every committed history (test/fixtures/histories, recorded from real runs by
 * record-fixtures.ts) must replay against the current workflow code. A change that makes the code
 * decide differently fails here until it is versioned with patched() or the fixtures are
 * re-recorded on purpose (docs/audit.md).
 */
const FIXTURES = resolve(__dirname, '..', 'fixtures', 'histories');
const ROOT = resolve(__dirname, '..', '..');

let manifest: FixtureEntry[] = [];
const editedDirs: string[] = [];

before(() => {
  // Replays that are meant to fail would otherwise print the SDK's own error report.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: {
      logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }), forward: {} },
    },
  });
});

after(async () => {
  for (const dir of editedDirs) await rm(dir, { recursive: true, force: true });
});

async function loadFixtures(
  filter: (entry: FixtureEntry) => boolean = () => true,
): Promise<ReplayInput[]> {
  if (manifest.length === 0) {
    manifest = JSON.parse(
      await readFile(join(FIXTURES, 'manifest.json'), 'utf8'),
    ) as FixtureEntry[];
  }
  const inputs: ReplayInput[] = [];
  for (const entry of manifest.filter(filter)) {
    const history: unknown = JSON.parse(await readFile(join(FIXTURES, entry.file), 'utf8'));
    inputs.push({ workflowId: entry.workflowId, runId: entry.runId, history });
  }
  return inputs;
}

/**
 * A copy of workflows/ with one edit to journal-calls.ts, bundled like the real code. The copy is
 * a sibling of workflows/ (a dot-folder at the project root, removed afterwards), so its
 * `../src/...` imports reach the real contracts and domain code unchanged.
 */
async function bundleEdited(edit: (source: string) => string): Promise<{ code: string }> {
  const dir = await mkdtemp(join(ROOT, '.replay-edit-'));
  editedDirs.push(dir);
  await cp(join(ROOT, 'workflows'), dir, { recursive: true });
  const path = join(dir, 'journal-calls.ts');
  const source = await readFile(path, 'utf8');
  const edited = edit(source);
  assert.notEqual(edited, source, 'the edit must change the workflow code');
  await writeFile(path, edited);
  return bundleWorkflows({ workflowsPath: join(dir, 'index.ts') });
}

/** Replaces one anchor that must occur exactly once, so a drifted anchor fails loudly. */
function replaceOnce(source: string, anchor: string, replacement: string): string {
  const parts = source.split(anchor);
  assert.equal(
    parts.length,
    2,
    `anchor ${JSON.stringify(anchor)} must occur once in journal-calls.ts`,
  );
  return parts.join(replacement);
}

/**
 * The incompatible change: a timer at the head of every turn of the main loop. Its SDK functions
 * come in by an import of their own, under names the workflow code does not use.
 */
const addTimer =
  (guard: string | null) =>
  (source: string): string => {
    const imported = `import { patched as editPatched, sleep as editSleep } from '@temporalio/workflow';\n${source}`;
    const timer = guard
      ? `if (editPatched('${guard}')) await editSleep('1 second');`
      : `await editSleep('1 second');`;
    return replaceOnce(imported, '  for (;;) {\n', `  for (;;) {\n    ${timer}\n`);
  };

void test('every committed history replays against the current workflow code', async () => {
  const inputs = await loadFixtures();
  assert.ok(inputs.length >= 7, `expected the recorded fixtures, found ${inputs.length}`);
  const outcome = await replayDecisions({
    workflows: { workflowBundle: await workflowBundle() },
    histories: inputs,
  });
  assert.deepEqual(outcome.failures, []);
  assert.equal(outcome.replayed, inputs.length);
  const types = new Set(manifest.map((m) => m.workflowType));
  assert.ok(
    types.has('journalCallsWorkflow') && types.has('schoolSyncWorkflow'),
    [...types].join(', '),
  );
  assert.ok(
    manifest.some((m) => m.workflowId === 'journal-calls-j6' && m.file.includes('.run2.')),
    'a journal chain that continued-as-new is among the fixtures',
  );
});

void test('the sink runs during replay: the full-day fixture yields its starts, refusal and ends', async () => {
  const inputs = await loadFixtures((e) => e.workflowId === 'journal-calls-j1');
  const outcome = await replayDecisions({
    workflows: { workflowBundle: await workflowBundle() },
    histories: inputs,
  });
  const kinds = [...outcome.decisions.values()]
    .flat()
    .map((d) => (d.reason ? `${d.kind}:${d.reason}` : d.kind));
  for (const kind of [
    'autoStarted',
    'autoEnded',
    'manualStarted',
    'refused:anotherCallRunning',
    'manualEnded',
    'endedInSferum',
  ]) {
    assert.ok(kinds.includes(kind), `${kind} in ${kinds.join(', ')}`);
  }
});

void test('an incompatible change to the decision code fails the replay of the recorded histories', async () => {
  const inputs = await loadFixtures((e) => e.workflowType === 'journalCallsWorkflow');
  const outcome = await replayDecisions({
    workflows: { workflowBundle: await bundleEdited(addTimer(null)) },
    histories: inputs,
  });
  assert.equal(outcome.failures.length, inputs.length, 'every journal history must fail');
  for (const failure of outcome.failures) {
    assert.equal(
      failure.errorType,
      'DeterminismViolationError',
      `${failure.workflowId}: ${failure.message}`,
    );
  }
});

void test('the same change behind patched() replays the recorded histories cleanly', async () => {
  const inputs = await loadFixtures((e) => e.workflowType === 'journalCallsWorkflow');
  const outcome = await replayDecisions({
    workflows: { workflowBundle: await bundleEdited(addTimer('replay-test-extra-timer')) },
    histories: inputs,
  });
  assert.deepEqual(outcome.failures, []);
});

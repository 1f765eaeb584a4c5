import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ESLint } from 'eslint';
import { projectRoot } from '../../src/dev/tools';

/** The architecture's one hard line: workflow code never reaches I/O (DESIGN.md §3). */
const eslint = new ESLint({ cwd: projectRoot });

async function restrictedImports(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

test("workflows: importing 'mongodb' in workflows/ fails lint", async () => {
  const messages = await restrictedImports(
    "import 'mongodb';\nexport const x = 1;\n",
    'workflows/archiver.ts',
  );
  assert.equal(messages.length, 1, messages.join('\n'));
});

test('workflows: Node built-ins and undici are refused too', async () => {
  const messages = await restrictedImports(
    "import { readFile } from 'node:fs';\nimport { request } from 'undici';\nexport { readFile, request };\n",
    'workflows/archiver.ts',
  );
  assert.equal(messages.length, 2, messages.join('\n'));
});

test('activities may import mongodb', async () => {
  const messages = await restrictedImports(
    "import type { Db } from 'mongodb';\nexport type X = Db;\n",
    'activities/archive.ts',
  );
  assert.deepEqual(messages, []);
});

test('layers: a store may not import the API, the process wiring or the Temporal client side', async () => {
  const messages = await restrictedImports(
    "import type { ApiDeps } from '../api/server';\nimport { openApp } from '../process/app';\nimport type { WorkflowGateway } from '../client/workflow-gateway';\nexport type X = [ApiDeps, typeof openApp, WorkflowGateway];\n",
    'src/store/call-store.ts',
  );
  assert.equal(messages.length, 3, messages.join('\n'));
});

test('layers: the domain may not import activities', async () => {
  const messages = await restrictedImports(
    "import type { ActivityDeps } from '../../activities';\nexport type X = ActivityDeps;\n",
    'src/domain/time.ts',
  );
  assert.equal(messages.length, 1, messages.join('\n'));
});

test('emulators: nothing of the product but the contract they emulate', async () => {
  const refused = await restrictedImports(
    "import { createCallStore } from '../../store/call-store';\nexport { createCallStore };\n",
    'src/emulator/vk/server.ts',
  );
  assert.equal(refused.length, 1, refused.join('\n'));
  const allowed = await restrictedImports(
    "import { verifyDiarySignature } from '../../diary/events';\nexport { verifyDiarySignature };\n",
    'src/emulator/portal/server.ts',
  );
  assert.deepEqual(allowed, []);
});

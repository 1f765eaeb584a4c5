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

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflows } from '../workflow-code/bundle';
import { projectRoot } from './tools';

/**
 * Pre-builds the workflow bundle for production, so a worker starts without running webpack
 * (`SFERUM_WORKFLOW_BUNDLE` points the worker at it).
 */
async function main(): Promise<void> {
  const { code } = await bundleWorkflows();
  const target = join(projectRoot, 'dist', 'workflow-bundle.js');
  await writeFile(target, code);
  process.stderr.write(`workflow bundle written to ${target}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});

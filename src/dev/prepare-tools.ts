import {
  ensureFerretDb,
  ensureTemporalServer,
  ensureTemporalSqlTool,
  ensureTestServer,
  findMongod,
} from './tools';

/** Builds every local tool once, with progress, so the first `npm start` or `npm test` is quick. */
async function main(): Promise<void> {
  const temporal = await ensureTemporalServer();
  console.error(`[tools] temporal-server: ${temporal.server}`);
  console.error(`[tools] temporal-ui-server: ${temporal.ui}`);
  console.error(`[tools] temporal-sql-tool: ${await ensureTemporalSqlTool()}`);
  if (!process.env.MONGODB_URI && !findMongod())
    console.error(`[tools] ferretdb: ${await ensureFerretDb()}`);
  console.error(`[tools] temporal-test-server: ${await ensureTestServer()}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

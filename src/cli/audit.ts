import { InvalidArgumentError, type Command } from 'commander';
import type { App } from '../process/app';
import { workflowSourceFromEnv } from '../workflow-code/source';
import { createHistoryArchive } from '../store/history-archive';
import { archiveFromVisibility } from '../client/archive-histories';
import { runAudit } from '../audit/replay-audit';
import { replayArchived } from '../audit/stored-replays';
import { formatReport, progressReporter, type ReportFormat } from '../audit/report';
import { DEFAULT_ARCHIVE_EVERY, ensureArchiveSchedule } from '../client/archive-schedule';

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;

function isoDate(value: string): string {
  if (!ISO_DATE.test(value) || Number.isNaN(Date.parse(value))) {
    throw new InvalidArgumentError('not a YYYY-MM-DD date');
  }
  return value;
}

interface AuditOptions {
  school: string;
  journal?: string;
  from: string;
  to?: string;
  json?: boolean;
  csv?: boolean;
}

interface ArchiveOptions {
  school?: string;
  schedule?: boolean;
  every: string;
  replay?: boolean;
  forgetReplays?: boolean;
}

/**
 * The `audit` and `archive` commands. `withApp` is the CLI's own: it opens MongoDB and the
 * Temporal client from the configuration and closes them afterwards.
 */
export function registerAuditCommands(
  program: Command,
  withApp: <T>(run: (app: App) => Promise<T>) => Promise<T>,
): void {
  program
    .command('audit')
    .description(
      'replay the journal workflows and say, for every online lesson, how its call started and ended, ' +
        'or why it had none; exits 1 if any history no longer replays',
    )
    .requiredOption('--school <id>', 'school ID')
    .option('--journal <id>', 'only this journal')
    .requiredOption('--from <date>', 'first lesson date (YYYY-MM-DD)', isoDate)
    .option('--to <date>', 'last lesson date (YYYY-MM-DD); defaults to --from', isoDate)
    .option('--json', 'print JSON')
    .option('--csv', 'print CSV')
    .action(async (opts: AuditOptions) => {
      if (opts.json && opts.csv) throw new InvalidArgumentError('choose one of --json and --csv');
      const format: ReportFormat = opts.json ? 'json' : opts.csv ? 'csv' : 'text';
      await withApp(async (app) => {
        const report = await runAudit({
          db: app.db,
          client: app.client,
          schoolId: opts.school,
          ...(opts.journal ? { journalId: opts.journal } : {}),
          from: opts.from,
          to: opts.to ?? opts.from,
          workflows: workflowSourceFromEnv(),
          onProgress: progressReporter(process.stderr),
        });
        process.stdout.write(formatReport(report, format));
        if (report.failures.length > 0) {
          process.stderr.write(
            `replay failed for ${report.failures.length} run(s): the workflow code changed incompatibly ` +
              '(see docs/audit.md, "Versioning a workflow change")\n',
          );
          process.exitCode = 1;
        }
      });
    });

  program
    .command('archive')
    .description(
      'copy the journal workflow histories the server still holds into MongoDB now (idempotent); ' +
        'with --schedule, install the Temporal Schedule that does it periodically instead',
    )
    .option('--school <id>', 'only this school')
    .option('--schedule', 'create or update the history-archiver schedule')
    .option('--every <duration>', 'schedule interval, e.g. "15 minutes"', DEFAULT_ARCHIVE_EVERY)
    .option('--replay', 'then replay, on every core, the closed runs with no replay by this build')
    .option('--forget-replays', 'first forget the stored replays, so they are all replayed again')
    .action(async (opts: ArchiveOptions) => {
      await withApp(async (app) => {
        const scope = opts.school ? { schoolId: opts.school } : {};
        if (opts.forgetReplays) {
          const forgotten = await createHistoryArchive(app.db).clearReplays(scope);
          process.stderr.write(`forgot ${forgotten} stored replays\n`);
        }
        if (opts.schedule) {
          const done = await ensureArchiveSchedule(app.client, { every: opts.every });
          process.stdout.write(`history-archiver schedule ${done} (every ${opts.every})\n`);
          return;
        }
        await createHistoryArchive(app.db).ensureIndexes();
        const outcome = await archiveFromVisibility({
          db: app.db,
          client: app.client,
          ...(opts.school ? { schoolId: opts.school } : {}),
          onRun: (done) => {
            if (done % 100 === 0) process.stderr.write(`archived ${done} runs\n`);
          },
        });
        const replay = opts.replay
          ? await replayArchived({
              db: app.db,
              workflows: workflowSourceFromEnv(),
              ...scope,
              budgetMs: Number.POSITIVE_INFINITY,
              onRun: (done) => {
                if (done % 100 === 0) process.stderr.write(`replayed ${done} runs\n`);
              },
            })
          : undefined;
        process.stdout.write(
          `${JSON.stringify({ archived: outcome.archived, unchanged: outcome.unchanged, failed: outcome.failed, ...(replay ? { replay } : {}) }, null, 2)}\n`,
        );
        if (outcome.failed.length > 0 || (replay?.failed ?? 0) > 0) process.exitCode = 1;
      });
    });
}

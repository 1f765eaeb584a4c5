import type { Client } from '@temporalio/client';
import type { Db } from 'mongodb';
import { bundleWorkflows } from '../workflow-code/bundle';
import { workflowSourceFromEnv } from '../workflow-code/source';
import { runAudit, type AuditReport, type ReplayWorkflowSource } from './replay-audit';

/** The replay audit over one school's archive (and server), as the API and the CLI ask for it. */
export interface AuditPort {
  run(args: {
    schoolId: string;
    journalId?: string;
    from: string;
    to: string;
  }): Promise<AuditReport>;
}

/**
 * The audit over `db`, and over the server's open runs when a client is given. The workflow code
 * is bundled once per process (seconds of webpack), then every audit replays against it.
 */
export function createAuditPort(deps: { db: Db; client?: Client }): AuditPort {
  let workflows: Promise<ReplayWorkflowSource> | undefined;
  const source = (): Promise<ReplayWorkflowSource> => {
    workflows ??= (async () => {
      const configured = workflowSourceFromEnv();
      if ('workflowBundle' in configured && configured.workflowBundle) return configured;
      const path = 'workflowsPath' in configured ? configured.workflowsPath : undefined;
      if (!path) throw new Error('no workflow code to replay');
      return { workflowBundle: await bundleWorkflows({ workflowsPath: path }) };
    })();
    return workflows;
  };
  return {
    async run(args) {
      return runAudit({
        db: deps.db,
        ...(deps.client ? { client: deps.client } : {}),
        ...args,
        ...(args.journalId === undefined ? {} : { journalId: args.journalId }),
        workflows: await source(),
      });
    },
  };
}

import type { InjectedSinks } from '@temporalio/worker';
import type { DecisionSinks } from '../contracts/decisions';
import type { Logger } from './logger';

/** The live sink: one structured log line per decision (IDs only). Replay stays silent. */
export function decisionSinks(logger: Logger): InjectedSinks<DecisionSinks> {
  return {
    decisions: {
      record: {
        fn(info, decision) {
          logger.info(
            { workflowId: info.workflowId, runId: info.runId, decision },
            'call decision',
          );
        },
        callDuringReplay: false,
      },
    },
  };
}

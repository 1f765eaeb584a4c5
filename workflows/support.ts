import { ActivityFailure, ApplicationFailure, workflowInfo } from '@temporalio/workflow';

/** What the workflows share: when to continue as new, and what a failed activity says. */

export interface ContinueAsNewHooks {
  /** Continue-as-new after this many history events instead of waiting for the server's hint. */
  readonly continueAsNewAfterEvents?: number;
}

/** The server suggests continuing as new, or the history reached the test's limit. */
export function continueAsNewDue(hooks: ContinueAsNewHooks | undefined): boolean {
  const info = workflowInfo();
  const limit = hooks?.continueAsNewAfterEvents;
  return info.continueAsNewSuggested || (limit !== undefined && info.historyLength >= limit);
}

/** The failure an activity raised, unwrapped from the `ActivityFailure` around it. */
function failureCause(error: unknown): unknown {
  return error instanceof ActivityFailure ? error.cause : error;
}

/** The typed error's name (`src/contracts/errors.ts`) a failed activity raised, if any. */
export function failureType(error: unknown): string | undefined {
  const cause = failureCause(error);
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

export function failureMessage(error: unknown): string {
  const cause = failureCause(error);
  return cause instanceof Error ? cause.message : String(error);
}

/** The failure as "Type: message", for a state an operator reads. */
export function failureText(error: unknown): string {
  const cause = failureCause(error);
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

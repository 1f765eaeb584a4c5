import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  setHandler,
  workflowInfo,
  type QueryDefinition,
} from '@temporalio/workflow';

/** What the workflows share: when to continue as new, and what a failed activity says. */

/** The input option of a long-lived workflow that bounds its history (docs/operating.md). */
export interface ContinueAsNewOption {
  /** Continue as new once the history has this many events, besides the server's suggestion. */
  readonly continueAsNewAfterEvents?: number;
}

/**
 * The run's history limit. Histories recorded before the option was part of the input carry it
 * as `testHooks.continueAsNewAfterEvents`: read so they replay as they ran, never written again.
 */
export function continueAsNewLimit(input: ContinueAsNewOption): number | undefined {
  if (input.continueAsNewAfterEvents !== undefined) return input.continueAsNewAfterEvents;
  const recorded = (input as { testHooks?: ContinueAsNewOption }).testHooks;
  return recorded?.continueAsNewAfterEvents;
}

/** The option as the next run gets it. */
export function continueAsNewOption(limit: number | undefined): ContinueAsNewOption {
  return limit === undefined ? {} : { continueAsNewAfterEvents: limit };
}

/** The server suggests continuing as new, or the history reached the run's limit. */
export function continueAsNewDue(limit: number | undefined): boolean {
  const info = workflowInfo();
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

/**
 * Registers a query under its name and under the one it had before the naming scheme of
 * docs/architecture.md (Names): operators' scripts and the docs they followed may still ask it.
 */
export function answerQuery<T>(
  query: QueryDefinition<T>,
  handler: () => T,
  options: { readonly description: string; readonly formerName: string },
): void {
  setHandler(query, handler, { description: options.description });
  setHandler(defineQuery<T>(options.formerName), handler, {
    description: `Former name of ${query.name}: ${options.description}`,
  });
}

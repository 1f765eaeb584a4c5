import { z } from 'zod';

/**
 * The few fields of a JSON history (the protojson form `temporal workflow show --output json`
 * writes and replay reads) that the archive indexes.
 */
/** The events that end a run; any other last event means the run is still open. */
const CLOSING_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
]);

export const historyJsonSchema = z.object({
  events: z
    .array(
      z.looseObject({
        eventType: z.string(),
        eventTime: z.string().optional(),
        workflowExecutionStartedEventAttributes: z
          .looseObject({
            workflowType: z.looseObject({ name: z.string() }).optional(),
            continuedExecutionRunId: z.string().optional(),
            input: z
              .looseObject({ payloads: z.array(z.looseObject({ data: z.string().optional() })) })
              .optional(),
          })
          .optional(),
      }),
    )
    .min(1),
});

export interface HistorySummary {
  workflowType: string;
  closed: boolean;
  status: string;
  startTime: Date;
  closeTime: Date | null;
  continuedFromRunId: string | null;
  eventCount: number;
  /** The journal workflow's input names its school and journal (opaque IDs). */
  input: { schoolId?: string; journalId?: string };
}

/** Reads what the archive indexes from a JSON history, without replaying it. */
export function summarizeHistory(json: string): HistorySummary {
  const parsed = historyJsonSchema.parse(JSON.parse(json));
  const first = parsed.events[0];
  const last = parsed.events[parsed.events.length - 1];
  if (!first || !last) throw new Error('empty history');
  const started = first.workflowExecutionStartedEventAttributes;
  const closed = CLOSING_EVENTS.has(last.eventType);
  let input: HistorySummary['input'] = {};
  const data = started?.input?.payloads[0]?.data;
  if (data) {
    const decoded: unknown = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
    const shape = z.looseObject({ schoolId: z.string(), journalId: z.string() }).partial();
    const result = shape.safeParse(decoded);
    if (result.success) {
      input = {
        ...(result.data.schoolId === undefined ? {} : { schoolId: result.data.schoolId }),
        ...(result.data.journalId === undefined ? {} : { journalId: result.data.journalId }),
      };
    }
  }
  return {
    workflowType: started?.workflowType?.name ?? '',
    closed,
    status: closed ? last.eventType.replace('EVENT_TYPE_WORKFLOW_EXECUTION_', '') : 'RUNNING',
    startTime: new Date(first.eventTime ?? 0),
    closeTime: closed && last.eventTime ? new Date(last.eventTime) : null,
    continuedFromRunId: started?.continuedExecutionRunId || null,
    eventCount: parsed.events.length,
    input,
  };
}

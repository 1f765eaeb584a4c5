import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { Client } from '@temporalio/client';

/** The JSON export plus every payload's data decoded, so a secret inside a payload is found too. */
export function readable(json: string): string {
  const parts = [json];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'data' && typeof x === 'string')
          parts.push(Buffer.from(x, 'base64').toString('utf8'));
        else walk(x);
      }
    }
  };
  walk(JSON.parse(json));
  return parts.join('\n');
}

/** Every history of the workflows on a task queue, payloads decoded: what a planted secret must not be in. */
export async function readableHistories(client: Client, taskQueue: string): Promise<string[]> {
  const out: string[] = [];
  for await (const wf of client.workflow.list({ query: `TaskQueue = "${taskQueue}"` })) {
    const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
    out.push(readable(historyToJSON(history)));
  }
  return out;
}

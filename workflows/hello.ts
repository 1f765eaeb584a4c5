import { proxyActivities } from '@temporalio/workflow';
import type { HelloActivities } from '../activities/hello';

const { recordHello } = proxyActivities<HelloActivities>({
  startToCloseTimeout: '10 seconds',
  summary: 'write a greeting to MongoDB',
});

export interface HelloInput {
  readonly name: string;
}

/** Proves the chain Temporal ↔ worker ↔ MongoDB: the activity writes, the workflow returns what was stored. */
export async function helloWorkflow({
  name,
}: HelloInput): Promise<{ greeting: string; stored: boolean }> {
  return recordHello({ name });
}

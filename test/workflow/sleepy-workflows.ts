import { proxyActivities, sleep } from '@temporalio/workflow';
/** The test registers this one activity itself. */
interface SleepyActivities {
  recordHello(args: { name: string }): Promise<{ greeting: string }>;
}

const { recordHello } = proxyActivities<SleepyActivities>({ startToCloseTimeout: '10 seconds' });

/** Sleeps a day and an hour of workflow time, then proves the activity chain still works. */
export async function sleepyWorkflow({
  name,
}: {
  name: string;
}): Promise<{ sleptMs: number; greeting: string }> {
  const started = Date.now();
  await sleep('25 hours', { summary: 'sleep 25 simulated hours' });
  const { greeting } = await recordHello({ name });
  return { sleptMs: Date.now() - started, greeting };
}

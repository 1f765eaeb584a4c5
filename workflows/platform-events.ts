import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  eventsSettingsChangedSignal,
  platformEventsStatusQuery,
  platformFactsSignal,
  listenerFactSchema,
  type EventsMode,
  type ListenerFact,
  type PlatformEventActivities,
  type PlatformEventsInput,
  type PlatformEventsStatus,
} from '../src/contracts/platform-listener';
import { answerQuery } from './support';

/**
 * The long-poll request waits up to 25 s on the platform and heartbeats meanwhile: a lost worker
 * is noticed within the heartbeat timeout and the request is made again from the same `ts`. A
 * platform or proxy that is down is waited out by Temporal's retries, backing off to a minute.
 */
const { pollPlatformEvents } = proxyActivities<PlatformEventActivities>({
  startToCloseTimeout: '90 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

const { applyPlatformFacts } = proxyActivities<PlatformEventActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Event IDs remembered: far more than one answer holds, and than a worker restart replays. */
const RECENT_EVENTS_KEPT = 1_000;
/** In callback mode (or without settings) the mode is looked at again this often. */
const MODE_RECHECK = '5 minutes';
const CONTINUE_AS_NEW_AFTER_EVENTS = 2_000;

/** One per school: what the platform tells us reaches the journals and the school sync (V5, C3). */
export async function platformEventsWorkflow(input: PlatformEventsInput): Promise<void> {
  const { schoolId } = input;
  let ts = input.carried?.ts ?? null;
  const recent = new Set(input.carried?.recentEventIds ?? []);
  let applied = input.carried?.applied ?? 0;
  let catchUps = input.carried?.catchUps ?? 0;
  let duplicates = 0;
  let mode: EventsMode | null = null;
  let lastEventAt: number | null = null;
  let pushed: ListenerFact[] = [...(input.carried?.pending ?? [])];
  let settingsChanged = false;
  let polling: CancellationScope | null = null;

  setHandler(
    platformFactsSignal,
    ({ facts }) => {
      // The route validated them; a malformed signal sent by hand is dropped, not applied.
      const valid = facts.filter((f) => listenerFactSchema().safeParse(f).success);
      pushed = [...pushed, ...valid];
    },
    { description: 'Facts the Callback API route accepted: apply them as the long poll would.' },
  );
  setHandler(
    eventsSettingsChangedSignal,
    () => {
      settingsChanged = true;
      polling?.cancel();
    },
    { description: "The school's events settings were saved: look at the mode again." },
  );
  answerQuery(
    platformEventsStatusQuery,
    (): PlatformEventsStatus => ({
      schoolId,
      mode,
      ts,
      applied,
      duplicates,
      catchUps,
      lastEventAt,
    }),
    {
      formerName: 'status',
      description: 'Mode, the long-poll position, facts applied, duplicates dropped, catch-ups.',
    },
  );

  /** Drops what was applied already; remembers the rest once applied. */
  async function apply(facts: readonly ListenerFact[], catchUp: boolean): Promise<void> {
    const fresh = facts.filter((f) => !recent.has(f.eventId));
    duplicates += facts.length - fresh.length;
    if (fresh.length === 0 && !catchUp) return;
    await applyPlatformFacts({ schoolId, facts: fresh, catchUp });
    for (const fact of fresh) recent.add(fact.eventId);
    for (const id of recent) {
      if (recent.size <= RECENT_EVENTS_KEPT) break;
      recent.delete(id);
    }
    applied += fresh.length;
    if (catchUp) catchUps += 1;
    if (fresh.length > 0) lastEventAt = Date.now();
  }

  function publish(): void {
    const lines = [
      `Mode: ${mode ?? 'not configured'}`,
      ...(mode === 'longPoll' ? [`Long poll from ts ${ts ?? '(server start)'}`] : []),
      `${applied} events applied, ${duplicates} duplicates dropped, ${catchUps} catch-up syncs`,
    ];
    setCurrentDetails(lines.map((line) => `- ${line}`).join('\n'));
  }

  const shouldContinueAsNew = (): boolean => {
    const info = workflowInfo();
    const limit = input.continueAsNewAfterEvents ?? CONTINUE_AS_NEW_AFTER_EVENTS;
    return info.continueAsNewSuggested || info.historyLength > limit;
  };

  for (;;) {
    if (pushed.length > 0) {
      const facts = pushed;
      pushed = [];
      await apply(facts, false);
    }
    if (shouldContinueAsNew()) {
      await condition(allHandlersFinished);
      // A callback fact that came while the handlers finished is carried, not dropped.
      return continueAsNew<typeof platformEventsWorkflow>({
        schoolId,
        carried: { ts, recentEventIds: [...recent], applied, catchUps, pending: pushed },
        ...(input.continueAsNewAfterEvents === undefined
          ? {}
          : { continueAsNewAfterEvents: input.continueAsNewAfterEvents }),
      });
    }
    publish();
    settingsChanged = false;
    const scope = new CancellationScope();
    polling = scope;
    let result: Awaited<ReturnType<typeof pollPlatformEvents>>;
    try {
      result = await scope.run(() => pollPlatformEvents({ schoolId, ts }));
    } catch (error) {
      if (!isCancellation(error)) throw error;
      continue;
    } finally {
      polling = null;
    }
    if (result.mode !== 'longPoll') {
      mode = result.mode === 'callback' ? 'callback' : null;
      publish();
      await condition(
        () => pushed.length > 0 || settingsChanged || shouldContinueAsNew(),
        MODE_RECHECK,
      );
      continue;
    }
    mode = 'longPoll';
    ts = result.ts;
    await apply(result.facts, result.eventsLost);
  }
}

import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  diaryEventsAddedSignal,
  diaryStatusQuery,
  type DiaryActivities,
  type DiaryDeliveryInput,
  type DiaryDeliveryStatus,
} from '../src/contracts/diary';
import { answerQuery } from './support';

const { undeliveredDiaryEvents } = proxyActivities<DiaryActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds' },
});

/**
 * A portal that is down is waited out: the delivery is retried for as long as it takes (the
 * outbox and the pending activity in the Web UI say since when and what the portal answered),
 * and the events behind it wait, so a lesson's withdrawal never overtakes its publication.
 */
const { deliverDiaryEvent } = proxyActivities<DiaryActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});

/** Events read per pass; a pass that reads a full batch reads again at once. */
const BATCH = 50;
/** Without a signal (one lost to a worker crash), the outbox is looked at this often. */
const IDLE_POLL = '5 minutes';
const CONTINUE_AS_NEW_AFTER_EVENTS = 2_000;

/** One per school: pushes the school's e-diary outbox to the portal's webhook, in order (V4). */
export async function diaryDeliveryWorkflow(input: DiaryDeliveryInput): Promise<void> {
  const { schoolId } = input;
  let added = true;
  let delivered = 0;
  let rejected = 0;
  let current: DiaryDeliveryStatus['current'] = null;

  setHandler(
    diaryEventsAddedSignal,
    () => {
      added = true;
    },
    { description: 'New events are in the outbox: deliver them now.' },
  );
  answerQuery(
    diaryStatusQuery,
    (): DiaryDeliveryStatus => ({ schoolId, delivered, rejected, current }),
    {
      formerName: 'status',
      description: 'Events delivered and rejected by this run, and the event being delivered now.',
    },
  );

  for (;;) {
    added = false;
    const { events } = await undeliveredDiaryEvents({ schoolId, limit: BATCH });
    for (const event of events) {
      current = event;
      setCurrentDetails(`- delivering ${event.eventId} (lesson ${event.lessonId}) to the portal`);
      const { outcome } = await deliverDiaryEvent({ schoolId, eventId: event.eventId });
      if (outcome === 'delivered' || outcome === 'duplicate') delivered += 1;
      if (outcome === 'rejected') rejected += 1;
    }
    current = null;
    setCurrentDetails(
      `- outbox drained: ${delivered} delivered, ${rejected} rejected by the portal`,
    );
    if (events.length === BATCH) continue;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > CONTINUE_AS_NEW_AFTER_EVENTS) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof diaryDeliveryWorkflow>({ schoolId });
    }
    await condition(() => added, IDLE_POLL);
  }
}

import { z } from 'zod';
import { ErrorType, TypedError } from '../src/contracts/errors';
import type { AttemptMemory } from './activity-context';
import { announce } from './call-announce';
import type { CallActivityDeps } from './calls';

/**
 * A call's start (V2): recorded, started on the platform once whatever the attempts, announced.
 * An armed start waits here for its due instant, so a bell is one request per journal.
 */

/** What a start needs besides the stores: its clock, its attempt memory and its sleep, resolved. */
export type StartDeps = Omit<CallActivityDeps, 'now' | 'attempts' | 'sleep'> & {
  readonly now: () => number;
  readonly attempts: AttemptMemory;
  readonly sleep: (ms: number) => Promise<void>;
};

/** How often an armed start heartbeats: the replies are how a cancellation reaches it. */
export const ARMED_HEARTBEAT_MS = 1_000;

const startedCallSchema = z.object({
  callKey: z.string(),
  callId: z.string(),
  joinLink: z.string(),
});

export async function startOnce(
  deps: StartDeps,
  args: {
    schoolId: string;
    journalId: string;
    lessonId: string;
    callKey: string;
    actor: string;
    notBefore: number | undefined;
    leave: (details: unknown) => void;
  },
): Promise<{ callId: string; joinLink: string; linkPublished: boolean }> {
  const { schoolId, journalId, lessonId, callKey, actor, notBefore } = args;
  // What must precede calls.start goes out at once: an automatic start is due at a bell with
  // every other journal's, and each round trip before the platform makes it later. Recording
  // a start already recorded changes nothing (its fields are written on insert only).
  const school = deps.messengers.forSchool(schoolId);
  school.catch(() => undefined);
  let [call] = await Promise.all([
    deps.calls.getCall({ schoolId, callKey }),
    deps.calls.recordStarting({
      schoolId,
      callKey,
      journalId,
      lessonId,
      startedBy: actor,
    }),
  ]);
  if (!call?.callId) {
    // The platform has no idempotency key: a call an earlier attempt started but could not
    // record is reused, or a second one would run that nobody announces or ends.
    const earlier = startedCallSchema.safeParse(deps.attempts.recall());
    let started: { callId: string; joinLink: string };
    if (earlier.success && earlier.data.callKey === callKey) {
      started = earlier.data;
    } else {
      const { messenger } = await school;
      // Armed: everything that could precede calls.start is done; the request alone is due.
      if (notBefore !== undefined && notBefore > deps.now())
        await deps.sleep(notBefore - deps.now());
      started = await messenger.callsStart();
    }
    args.leave({ callKey, callId: started.callId, joinLink: started.joinLink });
    await deps.calls.recordStarted(
      { schoolId, callKey },
      {
        callId: started.callId,
        joinLink: started.joinLink,
        startedBy: actor,
      },
    );
    call = await deps.calls.getCall({ schoolId, callKey });
    deps.logger.info({ schoolId, journalId, lessonId, callKey, actor }, 'call started');
  }
  if (!call?.callId || !call.joinLink) {
    throw new TypedError(ErrorType.MessengerUnavailable, `call ${callKey} has no platform ID yet`);
  }
  const linkPublished = await announce(deps, {
    schoolId,
    journalId,
    lessonId,
    callKey,
    joinLink: call.joinLink,
  });
  return { callId: call.callId, joinLink: call.joinLink, linkPublished };
}

import { Context } from '@temporalio/activity';
import { inActivity } from './activity-context';
import type { PlatformFact } from '../src/contracts/platform-events';
import { toListenerFact } from '../src/contracts/platform-listener';
import type {
  ApplyResult,
  ListenerFact,
  EventsMode,
  PlatformEventActivities,
  PollResult,
} from '../src/contracts/platform-listener';
import { chatKeys } from '../src/domain/chat-plan';
import type { Logger } from 'pino';
import type { LongPollClient } from '../src/messenger/long-poll';
import type { CallDoc, CallStore } from '../src/store/call-store';
import type { SyncStore } from '../src/store/sync-store';
import type { WorkflowGateway } from '../src/client/workflow-gateway';

/** The Bots Long Poll client of src/messenger/long-poll.ts, over the school's proxy (S2). */
export type LongPollPort = Pick<LongPollClient, 'getServer' | 'check'>;

export interface PlatformEventDeps {
  readonly logger: Logger;
  /** null when the school has no settings (no community, no token) yet. */
  readonly eventsMode: (schoolId: string) => Promise<EventsMode | null>;
  readonly longPollFor: (
    schoolId: string,
  ) => Promise<{ communityId: number; longPoll: LongPollPort }>;
  /** src/messenger/platform-events.ts with the deployment's call-end switch. */
  readonly interpret: (event: unknown) => PlatformFact[];
  readonly calls: Pick<CallStore, 'listRunningCalls'>;
  readonly sync: Pick<SyncStore, 'listChats'>;
  readonly gateway: Pick<WorkflowGateway, 'callEndedOnPlatform' | 'rosterChanged'>;
  /** Seconds the platform holds a long-poll request open (VK allows up to 90). */
  readonly waitSeconds?: number;
}

/** Chat peer IDs are 2e9 + the chat's ID (reference/vk-api.md). */
const PEER_OFFSET = 2_000_000_000;
const HEARTBEAT_MS = 2_000;

export function createPlatformEventActivities(deps: PlatformEventDeps): PlatformEventActivities {
  const wait = deps.waitSeconds ?? 25;
  /** The LP server and key per school: a credential, kept in this process only. */
  const servers = new Map<string, Promise<{ server: string; key: string; ts: string }>>();

  function serverOf(schoolId: string, groupId: number, longPoll: LongPollPort, fresh = false) {
    const cached = servers.get(schoolId);
    if (cached && !fresh) return cached;
    const next = longPoll.getServer({ groupId });
    servers.set(schoolId, next);
    next.catch(() => {
      if (servers.get(schoolId) === next) servers.delete(schoolId);
    });
    return next;
  }

  /** Our own echoes (the community adding or removing a member) are what the sync did. */
  function factsOf(events: readonly unknown[], communityId: number): ListenerFact[] {
    const facts: ListenerFact[] = [];
    for (const event of events) {
      for (const fact of deps.interpret(event)) {
        if (fact.kind !== 'callEnded' && fact.actorId === -communityId) continue;
        facts.push(toListenerFact(fact));
      }
    }
    return facts;
  }

  async function poll(schoolId: string, ts: string | null): Promise<PollResult> {
    const mode = await deps.eventsMode(schoolId);
    if (mode === null) return { mode: 'notConfigured' };
    if (mode === 'callback') return { mode: 'callback' };
    const { communityId, longPoll } = await deps.longPollFor(schoolId);
    const signal = inActivity() ? Context.current().cancellationSignal : undefined;
    let server = await serverOf(schoolId, communityId, longPoll);
    let from = ts ?? server.ts;
    let eventsLost = false;
    // A key that expired or lost its information is replaced once per attempt; a second failure
    // in a row is the platform's fault, left to Temporal's retry.
    for (let renewed = false; ; renewed = true) {
      const answer = await longPoll.check({
        server: server.server,
        key: server.key,
        ts: from,
        wait,
        ...(signal ? { signal } : {}),
      });
      if (answer.kind === 'updates') {
        return {
          mode: 'longPoll',
          ts: answer.ts,
          facts: factsOf(answer.events, communityId),
          eventsLost,
        };
      }
      if (answer.kind === 'historyLost') {
        deps.logger.warn({ schoolId }, 'long poll history lost: a school sync catches up');
        return { mode: 'longPoll', ts: answer.ts, facts: [], eventsLost: true };
      }
      if (renewed) throw new Error(`long poll answered ${answer.kind} twice in a row`);
      server = await serverOf(schoolId, communityId, longPoll, true);
      if (answer.kind === 'infoLost') {
        // A new key starts from the server's ts: what happened in between is lost.
        from = server.ts;
        eventsLost = true;
      }
    }
  }

  /** The running call an ended-call fact is about: by call ID, by link, else by the subject chat. */
  async function callOf(schoolId: string, fact: ListenerFact): Promise<CallDoc | null> {
    const running = await deps.calls.listRunningCalls(schoolId);
    const byId = running.find((c) => fact.callId !== undefined && c.callId === fact.callId);
    if (byId) return byId;
    const byLink = running.find((c) => fact.joinLink !== undefined && c.joinLink === fact.joinLink);
    if (byLink) return byLink;
    if (fact.callId !== undefined || fact.joinLink !== undefined) return null;
    const chats = await deps.sync.listChats(schoolId);
    const chat = chats.find((c) => c.chatId !== null && c.chatId + PEER_OFFSET === fact.peerId);
    if (!chat) return null;
    return running.find((c) => chatKeys.subject(c.journalId) === chat.key) ?? null;
  }

  return {
    async pollPlatformEvents({ schoolId, ts }) {
      const alive = inActivity()
        ? setInterval(() => Context.current().heartbeat(), HEARTBEAT_MS)
        : undefined;
      try {
        return await poll(schoolId, ts);
      } finally {
        clearInterval(alive);
      }
    },

    async applyPlatformFacts({ schoolId, facts, catchUp }): Promise<ApplyResult> {
      let callsEnded = 0;
      for (const fact of facts.filter((f) => f.kind === 'callEnded')) {
        const call = await callOf(schoolId, fact);
        if (!call) {
          deps.logger.info(
            { schoolId, eventId: fact.eventId },
            'call ended in Sferum: not one of ours running',
          );
          continue;
        }
        await deps.gateway.callEndedOnPlatform({
          schoolId,
          journalId: call.journalId,
          callKey: call.callKey,
          eventId: fact.eventId,
        });
        callsEnded += 1;
      }
      const changes = facts.filter((f) => f.kind !== 'callEnded');
      const syncRequested = catchUp || changes.length > 0;
      if (syncRequested) {
        // One signal for the batch; the sync lets a burst settle into one run.
        const first = changes[0]?.eventId ?? `catch-up-${Date.now()}`;
        await deps.gateway.rosterChanged({ schoolId, changeId: `platform:${first}` });
      }
      return { callsEnded, syncRequested };
    },
  };
}

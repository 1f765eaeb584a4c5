import type { EmulatorStats } from './api';
import type { EmulatorFaults } from './faults';
import type { LongPollFault } from './long-poll';
import { PEER_CHAT_OFFSET } from './methods';
import type { EmulatorOptions } from './options';
import { PERSON_ACTIONS } from './person';
import type { EmuChat, EmuState } from './state';

/** What `GET /__emulator/state` shows: the platform as tests and people read it, no token or secret. */

export interface StateDump {
  communities: { communityId: number; tokens: number; nextChatId: number }[];
  users: number[];
  chats: {
    communityId: number;
    chatId: number;
    peerId: number;
    title: string;
    ownerId: number;
    disabled: boolean;
    deleted: boolean;
    members: EmuChat['members'];
    admins: number[];
  }[];
  calls: {
    callId: string;
    communityId: number;
    status: string;
    joinLink: string;
    startedAt: number;
    finishedAt?: number;
    finishedBy?: string;
  }[];
  messages: EmuState['messages'];
  platformEvents: {
    logs: { communityId: number; nextTs: number; kept: number }[];
    /** Callback servers, their secret keys left out. */
    callbackServers: Omit<EmuState['callbackServers'][number], 'secretKey'>[];
    callbackDeliveries: EmuState['callbackDeliveries'];
    longPollStrikes: readonly LongPollFault[];
    /** The control endpoints that act as a person in the Sferum app. */
    personActions: readonly string[];
  };
  stats: EmulatorStats;
  faults: EmulatorFaults;
  options: EmulatorOptions;
}

/** What the snapshot shows besides the state: the emulator's own counters and switches. */
export interface LiveSettings {
  readonly stats: EmulatorStats;
  readonly faults: EmulatorFaults;
  readonly options: EmulatorOptions;
  readonly longPollStrikes: readonly LongPollFault[];
}

export function snapshotOf(state: EmuState, live: LiveSettings): StateDump {
  return {
    communities: state.communities.map((c) => ({
      communityId: c.communityId,
      tokens: c.tokenHashes.length,
      nextChatId: c.nextChatId,
    })),
    users: [...state.users],
    chats: state.chats.map((c) => ({
      communityId: c.communityId,
      chatId: c.chatId,
      peerId: PEER_CHAT_OFFSET + c.chatId,
      title: c.title,
      ownerId: c.ownerId,
      disabled: c.disabled,
      deleted: c.deleted,
      members: c.members.map((m) => ({ ...m })),
      admins: c.members.filter((m) => m.isAdmin).map((m) => m.memberId),
    })),
    calls: state.calls.map((c) => ({
      callId: c.callId,
      communityId: c.communityId,
      status: c.status,
      joinLink: c.joinLink,
      startedAt: c.startedAt,
      ...(c.finishedAt === undefined ? {} : { finishedAt: c.finishedAt }),
      ...(c.finishedBy === undefined ? {} : { finishedBy: c.finishedBy }),
    })),
    messages: state.messages.map((m) => ({ ...m })),
    platformEvents: {
      logs: state.eventLogs.map((l) => ({
        communityId: l.communityId,
        nextTs: l.nextTs,
        kept: l.events.length,
      })),
      callbackServers: state.callbackServers.map(({ secretKey: _secret, ...rest }) => rest),
      callbackDeliveries: state.callbackDeliveries.map((d) => ({ ...d })),
      longPollStrikes: live.longPollStrikes,
      personActions: PERSON_ACTIONS,
    },
    stats: structuredClone(live.stats),
    faults: live.faults,
    options: live.options,
  };
}

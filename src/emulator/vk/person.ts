import { z } from 'zod';
import { HttpError, parseWith } from '../kit/http';
import type { EventHub } from './events';
import type { EmuCall, EmuChat, EmuState } from './state';

/**
 * What a person does in the Sferum app, as control endpoints (V5, C3). Each changes the platform's
 * state and sends the events the real platform sends, from the person (`from_id` = their ID):
 *
 * - `POST /__emulator/person/members/add` `{communityId, chatId, userId, by?}`: chat_invite_user;
 * - `POST /__emulator/person/members/remove` `{communityId, chatId, userId, by?}`: chat_kick_user
 *   (a person leaving is `userId` = `by`);
 * - `POST /__emulator/person/chats/rename` `{communityId, chatId, title, by?}`: chat_title_update;
 * - `POST /__emulator/person/calls/end` `{callId}` (also `/__emulator/calls/finish`): the call
 *   stops, its chats get the call-end events `callEndSignal` chooses, and a later
 *   `calls.forceFinish` gets error 104 like any finished call.
 *
 * - `POST /__emulator/person/calls/join` `{callId, userId}`: someone joins a running call; each of
 *   its messages is edited and still carries `group_call_in_progress` (no end).
 *
 * `by` defaults to the chat's owner when a person owns it, else its first member who is a person.
 */

/** The routes, for the state page. */
export const PERSON_ACTIONS: readonly string[] = [
  'POST /__emulator/person/members/add {communityId, chatId, userId, by?}',
  'POST /__emulator/person/members/remove {communityId, chatId, userId, by?}',
  'POST /__emulator/person/chats/rename {communityId, chatId, title, by?}',
  'POST /__emulator/person/calls/end {callId}',
  'POST /__emulator/person/calls/join {callId, userId}',
];

const chatRef = {
  communityId: z.number().int().positive(),
  chatId: z.number().int().positive(),
  by: z.number().int().positive().optional(),
};
const memberBody = z.object({ ...chatRef, userId: z.number().int() }).strict();
const renameBody = z.object({ ...chatRef, title: z.string().trim().min(1).max(200) }).strict();
const endCallBody = z.object({ callId: z.string().min(1) }).strict();
const joinCallBody = z
  .object({ callId: z.string().min(1), userId: z.number().int().positive() })
  .strict();

export interface PersonControls {
  /** Handles `route` ("POST /__emulator/..."); undefined when the route is not one of these. */
  handle(route: string, body: () => Promise<unknown>): Promise<unknown>;
  /** Ends a call as a person in the app would; false when it had already ended. */
  endCall(call: EmuCall): boolean;
}

export function createPersonControls(args: {
  readonly state: EmuState;
  readonly hub: EventHub;
  readonly now: () => number;
  readonly changed: () => void;
}): PersonControls {
  const { state, hub, now } = args;

  function chatOf(communityId: number, chatId: number): EmuChat {
    const chat = state.chats.find((c) => c.communityId === communityId && c.chatId === chatId);
    if (chat === undefined)
      throw new HttpError(404, `no chat ${chatId} in community ${communityId}`);
    if (chat.deleted || chat.disabled)
      throw new HttpError(409, `chat ${chatId} is ${chat.deleted ? 'deleted' : 'disabled'}`);
    return chat;
  }

  function actor(chat: EmuChat, by: number | undefined): number {
    if (by !== undefined) return by;
    if (chat.ownerId > 0) return chat.ownerId;
    const person = chat.members.find((m) => m.memberId > 0);
    if (person === undefined)
      throw new HttpError(400, 'by: the chat has no person in it; say who acts');
    return person.memberId;
  }

  function endCall(call: EmuCall): boolean {
    if (call.status !== 'active') return false;
    call.status = 'finished';
    call.finishedAt = now();
    call.finishedBy = 'platform';
    hub.callEnded(call);
    args.changed();
    return true;
  }

  async function handle(route: string, body: () => Promise<unknown>): Promise<unknown> {
    switch (route) {
      case 'POST /__emulator/person/members/add': {
        const b = parseWith(memberBody, await body());
        const chat = chatOf(b.communityId, b.chatId);
        const by = actor(chat, b.by);
        if (chat.members.some((m) => m.memberId === b.userId))
          throw new HttpError(409, `${b.userId} is already in chat ${b.chatId}`);
        chat.members.push({
          memberId: b.userId,
          invitedBy: by,
          joinDate: Math.floor(now() / 1000),
          isAdmin: false,
          isOwner: false,
        });
        hub.chatAction(chat, by, { type: 'chat_invite_user', member_id: b.userId });
        args.changed();
        return { ok: true };
      }
      case 'POST /__emulator/person/members/remove': {
        const b = parseWith(memberBody, await body());
        const chat = chatOf(b.communityId, b.chatId);
        const by = actor(chat, b.by);
        const index = chat.members.findIndex((m) => m.memberId === b.userId);
        if (index < 0) throw new HttpError(404, `${b.userId} is not in chat ${b.chatId}`);
        if (chat.members[index]?.isOwner && b.userId !== by)
          throw new HttpError(409, 'the owner cannot be removed');
        chat.members.splice(index, 1);
        hub.chatAction(chat, by, { type: 'chat_kick_user', member_id: b.userId });
        args.changed();
        return { ok: true };
      }
      case 'POST /__emulator/person/chats/rename': {
        const b = parseWith(renameBody, await body());
        const chat = chatOf(b.communityId, b.chatId);
        const by = actor(chat, b.by);
        chat.title = b.title;
        hub.chatAction(chat, by, { type: 'chat_title_update', text: b.title });
        args.changed();
        return { ok: true };
      }
      case 'POST /__emulator/calls/finish':
      case 'POST /__emulator/person/calls/end': {
        const b = parseWith(endCallBody, await body());
        const call = state.calls.find((c) => c.callId === b.callId);
        if (call === undefined) throw new HttpError(404, `no call ${b.callId}`);
        return { ok: true, ended: endCall(call) };
      }
      case 'POST /__emulator/person/calls/join': {
        const b = parseWith(joinCallBody, await body());
        const call = state.calls.find((c) => c.callId === b.callId);
        if (call === undefined) throw new HttpError(404, `no call ${b.callId}`);
        if (call.status !== 'active') throw new HttpError(409, `call ${b.callId} has ended`);
        if (!(call.participants ?? []).includes(b.userId))
          call.participants = [...(call.participants ?? []), b.userId];
        hub.callJoined(call);
        args.changed();
        return { ok: true };
      }
      default:
        return undefined;
    }
  }

  return { handle, endCall };
}

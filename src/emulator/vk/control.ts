import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { HttpError, parseJson, parseWith, readBody } from '../kit/http';
import type { CallbackSide } from './callback';
import {
  callbackStrikeBody,
  chatBody,
  chatUpdateBody,
  communityBody,
  definedOnly,
  faultsSchema,
  longPollStrikeBody,
  optionsSchema,
  usersBody,
  type role,
} from './control-schemas';
import type { EmulatorFaults } from './faults';
import type { LongPollSide } from './long-poll';
import { PEER_CHAT_OFFSET } from './methods';
import type { EmulatorOptions } from './options';
import type { PersonControls } from './person';
import type { Settings } from './settings';
import type { StateDump } from './snapshot';
import { hashToken, type EmuChat, type EmuState } from './state';

/**
 * The control endpoints (`/__emulator/...`), for tests, the demo and people trying things: set up
 * the platform (communities, users, chats), switch the emulator (faults, options, strikes, reset),
 * and act as a person in the app (`person.ts`). None of them exists on VK.
 */

const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface ControlDeps {
  readonly state: EmuState;
  readonly now: () => number;
  readonly changed: () => void;
  readonly settings: Settings;
  /** What `GET /__emulator/state` shows. */
  readonly snapshot: () => StateDump;
  /** Back to an empty platform with the options it started with. */
  readonly reset: () => void;
  readonly longPoll: LongPollSide;
  readonly callbacks: CallbackSide;
  readonly person: PersonControls;
}

/** Gives the community a token (a token names one community: it is taken from any other). */
export function addCommunity(state: EmuState, communityId: number, token: string): void {
  const hash = hashToken(token);
  for (const c of state.communities) c.tokenHashes = c.tokenHashes.filter((h) => h !== hash);
  const existing = state.communities.find((c) => c.communityId === communityId);
  if (existing === undefined)
    state.communities.push({ communityId, tokenHashes: [hash], nextChatId: 1 });
  else existing.tokenHashes.push(hash);
}

type Body = () => Promise<unknown>;

/** Answers a control request (`route` = "METHOD /__emulator/..."); 404 when there is no such endpoint. */
export async function handleControl(
  deps: ControlDeps,
  req: IncomingMessage,
  route: string,
): Promise<unknown> {
  const body: Body = async () => parseJson((await readBody(req, MAX_BODY_BYTES)).toString('utf8'));
  const answer =
    (await setupRoute(deps, route, body)) ??
    (await switchRoute(deps, req, route, body)) ??
    // A person's actions in the Sferum app (V5, C3).
    (await deps.person.handle(route, body));
  if (answer === undefined) throw new HttpError(404, `no control endpoint ${route}`);
  return answer;
}

/** Setting up the platform: communities and their tokens, users, chats. */
async function setupRoute(deps: ControlDeps, route: string, body: Body): Promise<unknown> {
  const { state, changed } = deps;
  switch (route) {
    case 'POST /__emulator/communities': {
      const b = parseWith(communityBody, await body());
      addCommunity(state, b.communityId, b.token);
      changed();
      return { ok: true, communityId: b.communityId };
    }
    case 'POST /__emulator/users': {
      const b = parseWith(usersBody, await body());
      for (const id of b.userIds) if (!state.users.includes(id)) state.users.push(id);
      changed();
      return { ok: true, users: state.users.length };
    }
    case 'POST /__emulator/chats': {
      const chat = createChat(deps, parseWith(chatBody, await body()));
      changed();
      return { chatId: chat.chatId, peerId: PEER_CHAT_OFFSET + chat.chatId };
    }
    case 'POST /__emulator/chats/update': {
      const b = parseWith(chatUpdateBody, await body());
      const chat = findChat(state, b.communityId, b.chatId);
      if (b.title !== undefined) chat.title = b.title;
      if (b.disabled !== undefined) chat.disabled = b.disabled;
      if (b.deleted !== undefined) chat.deleted = b.deleted;
      if (b.communityRole !== undefined) placeCommunity(chat, b.communityRole, deps.now());
      changed();
      return { ok: true };
    }
    default:
      return undefined;
  }
}

/** Switching the emulator: its state page, faults, options, strikes and reset. */
async function switchRoute(
  deps: ControlDeps,
  req: IncomingMessage,
  route: string,
  body: Body,
): Promise<unknown> {
  const { settings } = deps;
  switch (route) {
    case 'GET /__emulator/state':
      return deps.snapshot();
    case 'GET /__emulator/events':
      return eventsOf(deps.state, req);
    case 'GET /__emulator/faults':
      return settings.faults;
    case 'POST /__emulator/faults':
      settings.setFaults(definedOnly<EmulatorFaults>(parseWith(faultsSchema, await body())));
      return settings.faults;
    case 'GET /__emulator/options':
      return settings.options;
    case 'POST /__emulator/options':
      settings.setOptions(definedOnly<EmulatorOptions>(parseWith(optionsSchema, await body())));
      return settings.options;
    case 'POST /__emulator/longpoll/strike': {
      const b = parseWith(longPollStrikeBody, await body());
      for (let i = 0; i < b.times; i++) deps.longPoll.strike(b.fault);
      return { ok: true, pending: deps.longPoll.pending() };
    }
    case 'POST /__emulator/callback/strike':
      parseWith(callbackStrikeBody, await body());
      deps.callbacks.strikeDuplicate();
      return { ok: true };
    case 'POST /__emulator/reset':
      deps.reset();
      return { ok: true };
    default:
      return undefined;
  }
}

function eventsOf(state: EmuState, req: IncomingMessage): unknown {
  const raw = new URL(req.url ?? '', 'http://e').searchParams.get('communityId') ?? '';
  if (!/^\d+$/.test(raw)) throw new HttpError(400, 'communityId: a community ID is required');
  const log = state.eventLogs.find((l) => l.communityId === Number(raw));
  return { nextTs: log?.nextTs ?? 1, events: log?.events ?? [] };
}

function createChat(deps: ControlDeps, body: z.output<typeof chatBody>): EmuChat {
  const community = deps.state.communities.find((c) => c.communityId === body.communityId);
  if (community === undefined) throw new HttpError(404, `no community ${body.communityId}`);
  const joinDate = Math.floor(deps.now() / 1000);
  const ownerId = body.ownerId ?? body.memberIds[0] ?? -body.communityId;
  const chat: EmuChat = {
    communityId: body.communityId,
    chatId: community.nextChatId++,
    title: body.title,
    ownerId,
    createdAt: deps.now(),
    disabled: false,
    deleted: false,
    lastConversationMessageId: 0,
    members: body.memberIds.map((id) => ({
      memberId: id,
      invitedBy: ownerId,
      joinDate,
      isAdmin: id === ownerId,
      isOwner: id === ownerId,
    })),
  };
  placeCommunity(chat, body.communityRole, deps.now());
  deps.state.chats.push(chat);
  return chat;
}

function findChat(state: EmuState, communityId: number, chatId: number): EmuChat {
  const chat = state.chats.find((c) => c.communityId === communityId && c.chatId === chatId);
  if (chat === undefined) throw new HttpError(404, `no chat ${chatId} in community ${communityId}`);
  return chat;
}

/** Puts the community in the chat as owner, admin or member, or takes it out (`none`). */
function placeCommunity(chat: EmuChat, placement: z.infer<typeof role>, now: number): void {
  const self = -chat.communityId;
  chat.members = chat.members.filter((m) => m.memberId !== self);
  if (placement === 'none') return;
  chat.members.unshift({
    memberId: self,
    invitedBy: chat.ownerId,
    joinDate: Math.floor(now / 1000),
    isAdmin: placement !== 'member',
    isOwner: placement === 'owner',
  });
  if (placement === 'owner') {
    chat.ownerId = self;
    for (const m of chat.members) if (m.memberId !== self) m.isOwner = false;
  }
}

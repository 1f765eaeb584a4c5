import { randomBytes } from 'node:crypto';
import type { CallContext, Handler } from './context';
import { VkMethodError } from './errors';
import { requiredInt } from './params';
import type { EmuCallbackServer } from '../state';

/**
 * The `groups.*` methods that set up event delivery. `reference/vk-api-schema` holds no `groups`
 * section, so these follow the public dev.vk.com method pages; where a detail is not there it is
 * marked UNCONFIRMED.
 */

/** What the methods need from the long-poll and callback sides of the emulator. */
export interface GroupServices {
  /** A new long-poll key for the community, the emulator's LP URL, and the ts to start from. */
  longPollServer(communityId: number): { key: string; server: string; ts: string };
  /** Sends the `confirmation` request to a server just added or moved to a new URL. */
  confirmCallbackServer(server: EmuCallbackServer): void;
}

/** dev.vk.com: at most 10 servers a community; title up to 14 characters, secret up to 50. */
const MAX_SERVERS = 10;
const MAX_TITLE = 14;
const MAX_SECRET = 50;
/** Parameters of setCallbackSettings that are not event types. */
const NOT_EVENT_TYPES = new Set(['group_id', 'server_id', 'api_version', 'v', 'access_token']);

/** `group_id` must name the token's own community (UNCONFIRMED which code another one gets; 100 here). */
function ownGroup(ctx: CallContext, params: Readonly<Record<string, string>>): number {
  const groupId = requiredInt(params, 'group_id', { min: 1 });
  if (groupId !== ctx.community.communityId) throw new VkMethodError(100, 'group_id is invalid');
  return groupId;
}

function confirmationCode(ctx: CallContext, communityId: number): string {
  let config = ctx.state.callbackConfigs.find((c) => c.communityId === communityId);
  if (config === undefined) {
    config = { communityId, confirmationCode: randomBytes(4).toString('hex') };
    ctx.state.callbackConfigs.push(config);
    ctx.action();
  }
  return config.confirmationCode;
}

function findServer(
  ctx: CallContext,
  params: Readonly<Record<string, string>>,
  communityId: number,
): EmuCallbackServer {
  const serverId = requiredInt(params, 'server_id', { min: 1 });
  const server = ctx.state.callbackServers.find(
    (s) => s.communityId === communityId && s.serverId === serverId,
  );
  if (server === undefined) throw new VkMethodError(104, 'callback server not found');
  return server;
}

function checkUrl(raw: string | undefined): string {
  if (raw === undefined || raw.trim() === '') throw new VkMethodError(100, 'url is undefined');
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new VkMethodError(100, 'url is invalid');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new VkMethodError(100, 'url is invalid');
  return url.href;
}

function checkTitle(raw: string | undefined): string {
  const title = raw?.trim() ?? '';
  if (title === '') throw new VkMethodError(100, 'title is undefined');
  if (title.length > MAX_TITLE) throw new VkMethodError(100, `title is longer than ${MAX_TITLE}`);
  return title;
}

function checkSecret(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.length > MAX_SECRET)
    throw new VkMethodError(100, `secret_key is longer than ${MAX_SECRET}`);
  return raw;
}

const getLongPollServer: Handler = (ctx, params) => {
  const groupId = ownGroup(ctx, params);
  return ctx.groups.longPollServer(groupId);
};

const getCallbackConfirmationCode: Handler = (ctx, params) => ({
  code: confirmationCode(ctx, ownGroup(ctx, params)),
});

const addCallbackServer: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const url = checkUrl(params.url);
  const title = checkTitle(params.title);
  const secretKey = checkSecret(params.secret_key);
  const own = ctx.state.callbackServers.filter((s) => s.communityId === communityId);
  if (own.length >= MAX_SERVERS) throw new VkMethodError(100, 'too many callback servers');
  confirmationCode(ctx, communityId);
  ctx.action();
  const server: EmuCallbackServer = {
    communityId,
    serverId: ctx.state.nextCallbackServerId++,
    url,
    title,
    ...(secretKey === undefined ? {} : { secretKey }),
    status: 'wait',
    apiVersion: ctx.version,
  };
  ctx.state.callbackServers.push(server);
  ctx.groups.confirmCallbackServer(server);
  return { server_id: server.serverId };
};

const editCallbackServer: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const server = findServer(ctx, params, communityId);
  const url = checkUrl(params.url);
  const title = checkTitle(params.title);
  const secretKey = checkSecret(params.secret_key);
  ctx.action();
  const moved = url !== server.url;
  server.url = url;
  server.title = title;
  if (secretKey === undefined) delete server.secretKey;
  else server.secretKey = secretKey;
  if (moved) {
    server.status = 'wait';
    ctx.groups.confirmCallbackServer(server);
  }
  return 1;
};

const deleteCallbackServer: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const server = findServer(ctx, params, communityId);
  ctx.action();
  ctx.state.callbackServers = ctx.state.callbackServers.filter((s) => s !== server);
  return 1;
};

const getCallbackServers: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const wanted = params.server_ids
    ?.split(',')
    .map((part) => Number(part.trim()))
    .filter((n) => Number.isInteger(n));
  const items = ctx.state.callbackServers
    .filter((s) => s.communityId === communityId)
    .filter((s) => wanted === undefined || wanted.length === 0 || wanted.includes(s.serverId))
    .map((s) => ({
      id: s.serverId,
      title: s.title,
      creator_id: 0,
      url: s.url,
      secret_key: s.secretKey ?? '',
      status: s.status,
    }));
  return { count: items.length, items };
};

const setCallbackSettings: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const server = findServer(ctx, params, communityId);
  ctx.action();
  const version = params.api_version;
  if (version !== undefined && version !== '') {
    if (!/^5\.\d+$/.test(version)) throw new VkMethodError(100, 'api_version is invalid');
    server.apiVersion = version;
  }
  const types = { ...(server.eventTypes ?? { message_new: true, message_edit: true }) };
  for (const [key, value] of Object.entries(params)) {
    if (NOT_EVENT_TYPES.has(key)) continue;
    if (value !== '0' && value !== '1') throw new VkMethodError(100, `${key} should be 0 or 1`);
    types[key] = value === '1';
  }
  server.eventTypes = types;
  return 1;
};

const getCallbackSettings: Handler = (ctx, params) => {
  const communityId = ownGroup(ctx, params);
  const server = findServer(ctx, params, communityId);
  const types = server.eventTypes ?? { message_new: true, message_edit: true };
  return {
    api_version: server.apiVersion,
    events: Object.fromEntries(Object.entries(types).map(([k, v]) => [k, v ? 1 : 0])),
  };
};

/** Whether a server takes an event type: message_new and message_edit unless switched off. */
export function serverTakes(server: EmuCallbackServer, type: string): boolean {
  const types = server.eventTypes ?? { message_new: true, message_edit: true };
  return types[type] === true;
}

export const groupMethods: Readonly<Record<string, Handler>> = {
  'groups.getLongPollServer': getLongPollServer,
  'groups.getCallbackConfirmationCode': getCallbackConfirmationCode,
  'groups.addCallbackServer': addCallbackServer,
  'groups.editCallbackServer': editCallbackServer,
  'groups.deleteCallbackServer': deleteCallbackServer,
  'groups.getCallbackServers': getCallbackServers,
  'groups.setCallbackSettings': setCallbackSettings,
  'groups.getCallbackSettings': getCallbackSettings,
};

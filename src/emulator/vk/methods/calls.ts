import { randomBytes, randomUUID } from 'node:crypto';
import type { EmuCall } from '../state';
import type { Handler } from './context';
import { VkMethodError } from './errors';
import { intParam } from './params';
import { requireGroupMethod } from './rules';

/** `calls.start` and `calls.forceFinish`: the community's calls, each ended once. */

const CALL_ID_LENGTH = 36;

export const callsStart: Handler = (ctx, params) => {
  requireGroupMethod(ctx.options.groupTokenCanStartCalls);
  const groupId = intParam(params, 'group_id', { min: 0 });
  if (groupId !== undefined && groupId !== 0 && groupId !== ctx.community.communityId) {
    throw new VkMethodError(100, 'group_id is invalid');
  }
  ctx.action();
  const joinToken = randomBytes(24).toString('base64url');
  const call: EmuCall = {
    callId: randomUUID(),
    communityId: ctx.community.communityId,
    joinToken,
    joinLink: `https://vk.com/call/join/${joinToken}`,
    okJoinLink: `https://ok.ru/videochat/join/${joinToken}`,
    status: 'active',
    startedAt: ctx.now,
  };
  ctx.state.calls.push(call);
  return {
    call_id: call.callId,
    join_link: ctx.options.joinLinkShape === 'url' ? call.joinLink : joinToken,
    ok_join_link: call.okJoinLink,
  };
};

export const callsForceFinish: Handler = (ctx, params) => {
  const callId = params.call_id;
  if (callId === undefined || callId === '') throw new VkMethodError(100, 'call_id is undefined');
  if (callId.length !== CALL_ID_LENGTH)
    throw new VkMethodError(100, `call_id should be ${CALL_ID_LENGTH} characters`);
  const call = ctx.state.calls.find(
    (c) => c.communityId === ctx.community.communityId && c.callId === callId,
  );
  // The platform has no documented "call gone" code; 104 (not found) stands in for it.
  if (call === undefined || call.status !== 'active')
    throw new VkMethodError(104, 'call not found or already finished');
  ctx.action();
  call.status = 'finished';
  call.finishedAt = ctx.now;
  call.finishedBy = 'api';
  ctx.events.callEnded(call);
  return 1;
};

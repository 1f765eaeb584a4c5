import { heartbeat } from '@temporalio/activity';
import { ErrorType } from '../../src/contracts/errors';
import { diffMembers } from '../../src/domain/chat-plan';
import type { Logger } from 'pino';
import type { FailedOp } from '../../src/messenger/op-failures';
import type { BatchCall, ChatMember, FollowUp, OpFailure } from '../../src/messenger/port';
import type { PlannedChat } from '../../src/store/sync-store';
import type { ChatWork } from './chat-work';

/** A member already gone is what a remove wanted: a retried batch lands here. */
const USER_NOT_IN_CHAT = 935;

const RETRYABLE_OP_TYPES = new Set<string>([
  ErrorType.MessengerUnavailable,
  ErrorType.MessengerRateLimited,
]);

/** The platform calls of the chats being applied, and what each outcome does to its chat. */
export class ChatCalls {
  constructor(
    private readonly ctx: {
      readonly logger: Logger;
      readonly schoolId: string;
      readonly selfId: number;
      readonly removeUnmanaged: boolean;
      readonly transient: FailedOp[];
    },
  ) {}

  /** Creations first: their admin rights follow them into the requests still to be sent. */
  initial(works: readonly ChatWork[], toCreate: readonly ChatWork[]): BatchCall[] {
    return [
      ...toCreate.map((w): BatchCall => ({
        kind: 'create',
        title: w.desired.title,
        userIds: w.desired.members,
        then: (outcome) => {
          if (!outcome.ok) return this.chatFailed(w, 'create', outcome);
          const { chatId, added } = outcome.value;
          w.chatId = chatId;
          w.result.created = true;
          // A reply that does not say whom it added (the older shape) is read back instead.
          if (added === null) return [this.read(w, chatId)];
          return this.writes(w, chatId, [
            { memberId: this.ctx.selfId, isAdmin: true, isOwner: true },
            ...added.map((memberId) => ({ memberId, isAdmin: false, isOwner: false })),
          ]);
        },
      })),
      ...works.flatMap((w) =>
        w.chatId === null || toCreate.includes(w) ? [] : [this.read(w, w.chatId)],
      ),
    ];
  }

  private read(w: ChatWork, chatId: number): BatchCall {
    return {
      kind: 'members',
      chatId,
      then: (outcome) => {
        if (!outcome.ok) return this.chatFailed(w, 'read', outcome);
        if (outcome.value === null) {
          w.gone = true;
          return undefined;
        }
        return this.writes(w, chatId, outcome.value);
      },
    };
  }

  /** The writes that bring a chat from `present` to the plan; admins once they are in. */
  private writes(w: ChatWork, chatId: number, present: readonly ChatMember[]): FollowUp {
    heartbeat({ stage: 'apply' });
    w.present = present;
    const diff = diffMembers({
      desired: w.desired.retire ? { members: [], admins: [] } : w.desired,
      actual: present,
      managed: w.result.created ? w.desired.members : (w.record?.managedMembers ?? []),
      removeUnmanaged: w.desired.retire ? false : this.ctx.removeUnmanaged,
      selfId: this.ctx.selfId,
    });
    w.result.unmanaged = diff.unmanaged.length;
    const adding = new Set(diff.add);
    const promote = new Set(diff.promote);
    return [
      ...diff.add.map((userId): BatchCall => ({
        kind: 'add',
        chatId,
        userId,
        then: (outcome) => {
          if (!outcome.ok) return this.failedOp(w, 'add', outcome);
          w.added.push(userId);
          return promote.has(userId) ? [this.role(w, chatId, userId, true)] : undefined;
        },
      })),
      ...withoutHeld(diff.remove, w.desired).map((userId): BatchCall => ({
        kind: 'remove',
        chatId,
        userId,
        then: (outcome) => {
          if (!outcome.ok && outcome.code !== USER_NOT_IN_CHAT)
            return this.failedOp(w, 'remove', outcome);
          w.removed.push(userId);
          return undefined;
        },
      })),
      ...diff.promote.filter((id) => !adding.has(id)).map((id) => this.role(w, chatId, id, true)),
      ...diff.demote.map((id) => this.role(w, chatId, id, false)),
    ];
  }

  private role(w: ChatWork, chatId: number, userId: number, admin: boolean): BatchCall {
    return {
      kind: 'role',
      chatId,
      userId,
      role: admin ? 'admin' : 'member',
      then: (outcome) => {
        if (!outcome.ok) return this.failedOp(w, admin ? 'promote' : 'demote', outcome);
        w.adminsChanged += 1;
        return undefined;
      },
    };
  }

  private failedOp(w: ChatWork, op: string, outcome: OpFailure): FollowUp {
    w.failedOps += 1;
    if (RETRYABLE_OP_TYPES.has(outcome.type)) {
      w.retryable = true;
      this.ctx.transient.push(outcome);
    }
    this.ctx.logger.warn({ op, code: outcome.code, type: outcome.type }, 'chat operation refused');
    return undefined;
  }

  private chatFailed(w: ChatWork, op: string, outcome: OpFailure): FollowUp {
    if (RETRYABLE_OP_TYPES.has(outcome.type)) {
      w.retryable = true;
      this.ctx.transient.push(outcome);
    } else w.failure = outcome.type;
    this.ctx.logger.warn(
      {
        schoolId: this.ctx.schoolId,
        chatKey: w.desired.key,
        op,
        code: outcome.code,
        type: outcome.type,
      },
      'chat refused',
    );
    return undefined;
  }
}
/** A chat's removals less those the guard holds (`keep`). */
function withoutHeld(remove: readonly number[], desired: PlannedChat): readonly number[] {
  if (!desired.keep?.length) return remove;
  const keep = new Set(desired.keep);
  return remove.filter((id) => !keep.has(id));
}

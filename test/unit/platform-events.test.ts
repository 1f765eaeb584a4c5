import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  longPollAnswerSchema,
  platformFactSchema,
  type CallEndSignal,
} from '../../src/contracts/platform-events';
import { interpretPlatformEvent } from '../../src/messenger/platform-events';

const GROUP = 4242;
const PEER = 2_000_000_007;
const TEACHER = 501;
const LINK = 'https://vk.com/call/join/AbC-123_xyz';

let nextEvent = 0;

function event(type: string, object: unknown): Record<string, unknown> {
  return { type, event_id: `ev${++nextEvent}`, v: '5.199', object, group_id: GROUP };
}

function message(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    id: 0,
    peer_id: PEER,
    conversation_message_id: 3,
    from_id: TEACHER,
    date: 1_780_000_000,
    text: '',
    attachments: [],
    ...fields,
  };
}

const newMessage = (fields: Record<string, unknown>): Record<string, unknown> =>
  event('message_new', { message: message(fields), client_info: { keyboard: true } });

const action = (type: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  action: { type, ...extra },
});

const callAttachment = {
  type: 'call',
  call: { initiator_id: 0, receiver_id: 0, state: 'reached', time: 1_780_000_000, duration: 2400 },
};

const inProgress = {
  type: 'group_call_in_progress',
  group_call_in_progress: { join_link: LINK, participants: { list: [TEACHER], count: 1 } },
};

/** Our link message: the community's own, with the join link in the text. */
const ourLink = (attachments: unknown[]): Record<string, unknown> =>
  message({
    from_id: -GROUP,
    text: `Видеоурок «Физика», 2-й урок. Подключиться: ${LINK}`,
    attachments,
  });

const kinds = (facts: readonly { kind: string }[]): string[] => facts.map((f) => f.kind);

void describe('platform events → facts', () => {
  void it('C3: a member added or removed by a person is membersChanged, naming the member', () => {
    for (const type of ['chat_invite_user', 'chat_kick_user', 'chat_invite_user_by_link']) {
      const raw = newMessage(action(type, { member_id: 777 }));
      const facts = interpretPlatformEvent(raw);
      assert.deepEqual(facts, [
        {
          kind: 'membersChanged',
          peerId: PEER,
          eventId: raw.event_id,
          memberId: 777,
          action: type,
          actorId: TEACHER,
        },
      ]);
      for (const fact of facts) platformFactSchema.parse(fact);
    }
  });

  void it('C3: a rename, a new photo or a pin by a person is chatChanged', () => {
    for (const type of ['chat_title_update', 'chat_photo_update', 'chat_pin_message']) {
      assert.deepEqual(kinds(interpretPlatformEvent(newMessage(action(type, { text: 'x' })))), [
        'chatChanged',
      ]);
    }
  });

  void it("C3: the platform's echo of our own change (from_id = -group) is no fact", () => {
    const raw = newMessage({ from_id: -GROUP, ...action('chat_invite_user', { member_id: 777 }) });
    assert.deepEqual(interpretPlatformEvent(raw), []);
    const rename = newMessage({ from_id: -GROUP, ...action('chat_title_update') });
    assert.deepEqual(interpretPlatformEvent(rename), []);
  });

  void it('C3: a plain message, a screenshot, a private dialog and unknown events give nothing', () => {
    assert.deepEqual(interpretPlatformEvent(newMessage({ text: 'Здравствуйте' })), []);
    assert.deepEqual(interpretPlatformEvent(newMessage(action('chat_screenshot'))), []);
    assert.deepEqual(
      interpretPlatformEvent(newMessage({ peer_id: TEACHER, ...action('chat_kick_user') })),
      [],
    );
    assert.deepEqual(interpretPlatformEvent(event('group_join', { user_id: 1 })), []);
    assert.deepEqual(interpretPlatformEvent(event('wall_post_new', 'not an object')), []);
  });

  void it('C3: malformed or foreign input never throws, it gives nothing', () => {
    for (const raw of [
      null,
      42,
      'message_new',
      {},
      { type: 'message_new' },
      event('message_new', null),
      event('message_new', { message: { peer_id: 'x' } }),
      event('message_edit', [1, 2]),
    ]) {
      assert.deepEqual(interpretPlatformEvent(raw), []);
    }
  });

  void it('C3: unknown fields and unknown action types parse', () => {
    const raw = {
      ...newMessage({ ...action('chat_invite_user', { member_id: 9, extra: 1 }), is_hidden: 0 }),
      future_field: { a: 1 },
    };
    assert.deepEqual(kinds(interpretPlatformEvent(raw)), ['membersChanged']);
    assert.deepEqual(interpretPlatformEvent(newMessage(action('chat_style_update'))), []);
  });

  void it('V5 (callMessage): a message_new with a call attachment ends the chat\u2019s call', () => {
    const raw = newMessage({ from_id: -GROUP, attachments: [callAttachment] });
    assert.deepEqual(interpretPlatformEvent(raw, { callEndSignal: 'callMessage' }), [
      { kind: 'callEnded', peerId: PEER, eventId: raw.event_id, signal: 'callMessage' },
    ]);
    assert.deepEqual(kinds(interpretPlatformEvent(raw)), ['callEnded']);
    assert.deepEqual(interpretPlatformEvent(raw, { callEndSignal: 'inProgressGone' }), []);
  });

  void it('V5 (callMessage): a call attachment missing fields still ends the call', () => {
    const raw = newMessage({ attachments: [{ type: 'call', call: { state: 'reached' } }] });
    assert.deepEqual(kinds(interpretPlatformEvent(raw)), ['callEnded']);
  });

  void it('V5 (inProgressGone): an edit of our link message without group_call_in_progress ends it', () => {
    const raw = event('message_edit', ourLink([]));
    assert.deepEqual(interpretPlatformEvent(raw, { callEndSignal: 'inProgressGone' }), [
      {
        kind: 'callEnded',
        peerId: PEER,
        eventId: raw.event_id,
        joinLink: LINK,
        signal: 'inProgressGone',
      },
    ]);
    assert.deepEqual(kinds(interpretPlatformEvent(raw)), ['callEnded']);
    assert.deepEqual(interpretPlatformEvent(raw, { callEndSignal: 'callMessage' }), []);
  });

  void it('V5 (inProgressGone): the {message} wrapper of message_edit is read the same way', () => {
    const raw = event('message_edit', { message: ourLink([]) });
    assert.deepEqual(kinds(interpretPlatformEvent(raw)), ['callEnded']);
  });

  void it('V5 (inProgressGone): while the attachment is there the call runs: no fact', () => {
    assert.deepEqual(interpretPlatformEvent(event('message_edit', ourLink([inProgress]))), []);
    assert.deepEqual(interpretPlatformEvent(newMessage(ourLink([inProgress]))), []);
  });

  void it('V5 (inProgressGone): our own link posted without the attachment is not an end', () => {
    assert.deepEqual(interpretPlatformEvent(event('message_new', { message: ourLink([]) })), []);
  });

  void it("V5 (inProgressGone): a person's edit of a message holding a link is not an end", () => {
    const raw = event('message_edit', message({ text: `ссылка ${LINK}` }));
    assert.deepEqual(interpretPlatformEvent(raw), []);
    assert.deepEqual(interpretPlatformEvent(event('message_edit', ourLink([]).text)), []);
    const noLink = event('message_edit', message({ from_id: -GROUP, text: 'Расписание' }));
    assert.deepEqual(interpretPlatformEvent(noLink), []);
  });

  void it('V5: the same event redelivered gives the same facts (de-duplication is by eventId)', () => {
    const raw = newMessage({ attachments: [callAttachment] });
    const signals: CallEndSignal[] = ['either', 'callMessage'];
    for (const callEndSignal of signals) {
      assert.deepEqual(
        interpretPlatformEvent(raw, { callEndSignal }),
        interpretPlatformEvent(structuredClone(raw), { callEndSignal }),
      );
    }
  });

  void it('C3: the long-poll answers parse to their four shapes; anything else does not', () => {
    assert.deepEqual(longPollAnswerSchema.parse({ ts: 12, updates: [] }), {
      ts: '12',
      updates: [],
    });
    assert.deepEqual(longPollAnswerSchema.parse({ failed: 1, ts: '30' }), { failed: 1, ts: '30' });
    assert.deepEqual(longPollAnswerSchema.parse({ failed: 2 }), { failed: 2 });
    assert.deepEqual(longPollAnswerSchema.parse({ failed: 3 }), { failed: 3 });
    for (const bad of [{}, { failed: 4 }, { ts: '1' }, { updates: [] }, 'ok', null])
      assert.equal(longPollAnswerSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });
});

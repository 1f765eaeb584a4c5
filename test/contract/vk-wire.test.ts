import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEmulator } from '../../src/emulator/vk';
import {
  COMMUNITY_ID,
  control,
  newToken,
  rawCall,
  startPlatform,
  type Platform,
} from './vk-harness';

/**
 * The emulator's wire contract, spoken to with plain fetch: what any VK client sees
 * (reference/vk-api.md §1), independent of our client.
 */

type ErrorBody = {
  error: {
    error_code: number;
    error_msg: string;
    request_params: { key: string; value: string }[];
  };
};

function assertErrorEnvelope(json: Record<string, unknown>, code: number): ErrorBody['error'] {
  assert.deepEqual(Object.keys(json), ['error']);
  const { error } = json as ErrorBody;
  assert.deepEqual(Object.keys(error).sort(), ['error_code', 'error_msg', 'request_params']);
  assert.equal(error.error_code, code, error.error_msg);
  assert.equal(typeof error.error_msg, 'string');
  for (const p of error.request_params) {
    assert.deepEqual(Object.keys(p), ['key', 'value']);
    assert.equal(typeof p.value, 'string');
  }
  return error;
}

void describe('VK wire format (emulator, no client)', () => {
  let p: Platform;
  const v = '5.199';
  before(async () => {
    // A high limit so this suite's quick succession of calls never trips error 6; that has its own tests.
    p = await startPlatform({ options: { rateLimitPerSecond: 1000 } });
  });
  after(async () => {
    await p.emulator.close();
  });

  void it('accepts a form-encoded POST and answers HTTP 200 with {response}', async () => {
    const { status, json } = await rawCall(p.emulator, 'messages.createChat', {
      title: 'Учительская',
      user_ids: '1,2,3',
      v,
      access_token: p.token,
    });
    assert.equal(status, 200);
    assert.deepEqual(json, { response: { chat_id: 1, peer_ids: [1, 2, 3] } });
  });

  void it('accepts GET with query parameters and the token as a Bearer header', async () => {
    const res = await fetch(
      `${p.emulator.url}/method/messages.getConversationsById?peer_ids=2000000001&v=${v}`,
      {
        headers: { authorization: `Bearer ${p.token}` },
      },
    );
    assert.equal(res.status, 200);
    const json = (await res.json()) as {
      response: {
        count: number;
        items: { peer: unknown; chat_settings: { title: string; owner_id: number } }[];
      };
    };
    assert.equal(json.response.count, 1);
    assert.deepEqual(json.response.items[0]?.peer, {
      id: 2_000_000_001,
      type: 'chat',
      local_id: 1,
    });
    assert.equal(json.response.items[0]?.chat_settings.title, 'Учительская');
    assert.equal(json.response.items[0]?.chat_settings.owner_id, -COMMUNITY_ID);
  });

  void it('accepts multipart/form-data', async () => {
    const form = new FormData();
    form.set('chat_id', '1');
    form.set('user_id', '4');
    form.set('v', v);
    form.set('access_token', p.token);
    const res = await fetch(`${p.emulator.url}/method/messages.addChatUser`, {
      method: 'POST',
      body: form,
    });
    assert.deepEqual(await res.json(), { response: 1 });
  });

  void it('does not read a JSON body: its fields are simply absent', async () => {
    const res = await fetch(`${p.emulator.url}/method/messages.getConversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ v, access_token: p.token }),
    });
    assert.equal(res.status, 200);
    const error = assertErrorEnvelope((await res.json()) as Record<string, unknown>, 5);
    assert.equal(error.error_msg, 'User authorization failed: no access_token passed.');
    // With the token where VK reads it, the JSON-only `v` is still missing.
    const withToken = await fetch(
      `${p.emulator.url}/method/messages.getConversations?access_token=${p.token}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v }),
      },
    );
    assertErrorEnvelope((await withToken.json()) as Record<string, unknown>, 8);
  });

  void it('missing v is error 8', async () => {
    const { json } = await rawCall(p.emulator, 'messages.getConversations', {
      access_token: p.token,
    });
    const error = assertErrorEnvelope(json, 8);
    assert.equal(error.error_msg, 'Invalid request: v (version) is required');
  });

  void it('a bad token is error 5, and the error echoes request_params without the token', async () => {
    const bad = newToken();
    const { status, json } = await rawCall(p.emulator, 'messages.getConversations', {
      count: '5',
      v,
      access_token: bad,
    });
    assert.equal(status, 200);
    const error = assertErrorEnvelope(json, 5);
    assert.equal(error.error_msg, 'User authorization failed: invalid access_token (4).');
    assert.deepEqual(error.request_params, [
      { key: 'method', value: 'messages.getConversations' },
      { key: 'oauth', value: '1' },
      { key: 'count', value: '5' },
      { key: 'v', value: v },
    ]);
    assert.ok(!JSON.stringify(json).includes(bad));
  });

  void it('a missing or invalid parameter is error 100 naming it; an unknown method is 3', async () => {
    const missing = assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'messages.removeChatUser', {
          member_id: '2',
          v,
          access_token: p.token,
        })
      ).json,
      100,
    );
    assert.equal(
      missing.error_msg,
      'One of the parameters specified was missing or invalid: chat_id is undefined',
    );
    const invalid = assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'messages.removeChatUser', {
          chat_id: 'x',
          member_id: '2',
          v,
          access_token: p.token,
        })
      ).json,
      100,
    );
    assert.match(invalid.error_msg, /chat_id not integer/);
    assertErrorEnvelope(
      (await rawCall(p.emulator, 'messages.nope', { v, access_token: p.token })).json,
      3,
    );
  });

  void it('chat errors carry their codes: 927 no chat, 935 not in chat', async () => {
    assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'messages.getConversationMembers', {
          peer_id: '2000000099',
          v,
          access_token: p.token,
        })
      ).json,
      927,
    );
    const e935 = assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'messages.removeChatUser', {
          chat_id: '1',
          member_id: '777',
          v,
          access_token: p.token,
        })
      ).json,
      935,
    );
    assert.equal(e935.error_msg, 'User not found in chat');
  });

  void it('getConversationMembers returns {count, items} with negative ids for communities', async () => {
    const { json } = await rawCall(p.emulator, 'messages.getConversationMembers', {
      peer_id: '2000000001',
      v,
      access_token: p.token,
    });
    const r = json.response as {
      count: number;
      items: { member_id: number; is_owner?: boolean; is_admin?: boolean; join_date: number }[];
    };
    assert.equal(r.count, 5);
    assert.deepEqual(
      r.items.map((i) => i.member_id),
      [-COMMUNITY_ID, 1, 2, 3, 4],
    );
    assert.equal(r.items[0]?.is_owner, true);
    assert.equal(r.items[0]?.is_admin, true);
    assert.equal(r.items[1]?.is_admin, undefined);
    assert.equal(typeof r.items[1]?.join_date, 'number');
  });

  void it('createChat answers a bare number below 5.199 (auto shape)', async () => {
    const { json } = await rawCall(p.emulator, 'messages.createChat', {
      title: 'Старый клиент',
      v: '5.131',
      access_token: p.token,
    });
    assert.equal(typeof json.response, 'number');
  });

  void it('execute returns results in order, with false + execute_errors for failed calls', async () => {
    const code =
      'var a = API.messages.addChatUser({"chat_id":1,"user_id":50}); return [a, API.messages.addChatUser({chat_id: 99, user_id: 1}), API.messages.removeChatUser({"chat_id":1,"member_id":777})];';
    const { json } = await rawCall(p.emulator, 'execute', { code, v, access_token: p.token });
    assert.deepEqual(json, {
      response: [1, false, false],
      execute_errors: [
        { method: 'messages.addChatUser', error_code: 927, error_msg: 'Chat does not exist' },
        { method: 'messages.removeChatUser', error_code: 935, error_msg: 'User not found in chat' },
      ],
    });
  });

  void it('execute code that does not parse is error 12', async () => {
    const { json } = await rawCall(p.emulator, 'execute', {
      code: 'return [API.messages.send({;',
      v,
      access_token: p.token,
    });
    assertErrorEnvelope(json, 12);
  });

  void it('send with peer_ids answers per peer and de-duplicates random_id per sender', async () => {
    const params = {
      peer_ids: '2000000001',
      random_id: '123456789012',
      message: 'Ссылка на урок',
      v,
      access_token: p.token,
    };
    const first = (await rawCall(p.emulator, 'messages.send', params)).json;
    const again = (await rawCall(p.emulator, 'messages.send', params)).json;
    assert.deepEqual(again, first);
    const [entry] = first.response as {
      peer_id: number;
      message_id: number;
      conversation_message_id: number;
    }[];
    assert.equal(entry?.peer_id, 2_000_000_001);
    assert.equal(typeof entry.message_id, 'number');
    assert.equal(typeof entry.conversation_message_id, 'number');
    const missingRandom = assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'messages.send', {
          peer_id: '2000000001',
          message: 'x',
          v,
          access_token: p.token,
        })
      ).json,
      100,
    );
    assert.match(missingRandom.error_msg, /random_id/);
  });

  void it('calls.start returns a 36-char call_id and join links; forceFinish answers 1', async () => {
    const { json } = await rawCall(p.emulator, 'calls.start', {
      group_id: String(COMMUNITY_ID),
      v,
      access_token: p.token,
    });
    const r = json.response as { call_id: string; join_link: string; ok_join_link: string };
    assert.equal(r.call_id.length, 36);
    assert.match(r.join_link, /^https:\/\/vk\.com\/call\/join\/[\w-]+$/);
    assert.equal(typeof r.ok_join_link, 'string');
    assert.deepEqual(
      (
        await rawCall(p.emulator, 'calls.forceFinish', {
          call_id: r.call_id,
          v,
          access_token: p.token,
        })
      ).json,
      { response: 1 },
    );
    assertErrorEnvelope(
      (
        await rawCall(p.emulator, 'calls.forceFinish', {
          call_id: r.call_id,
          v,
          access_token: p.token,
        })
      ).json,
      104,
    );
  });

  void it('the 21st request inside one second is error 6, counted per token', async () => {
    const q = await startPlatform();
    try {
      const codes: number[] = [];
      for (let i = 0; i < 21; i++) {
        const { json } = await rawCall(q.emulator, 'messages.getConversations', {
          v,
          access_token: q.token,
        });
        codes.push((json.error as { error_code: number } | undefined)?.error_code ?? 0);
      }
      assert.deepEqual(codes, [...Array<number>(20).fill(0), 6]);
      const other = newToken();
      q.emulator.addCommunity(COMMUNITY_ID, other);
      assert.ok(
        'response' in
          (await rawCall(q.emulator, 'messages.getConversations', { v, access_token: other })).json,
      );
    } finally {
      await q.emulator.close();
    }
  });

  void it('execute counts as one request against the rate limit', async () => {
    const q = await startPlatform({ options: { rateLimitPerSecond: 2 } });
    try {
      const calls = Array.from(
        { length: 25 },
        (_, i) => `API.messages.createChat({"title":"Чат ${i}"})`,
      ).join(',');
      const { json } = await rawCall(q.emulator, 'execute', {
        code: `return [${calls}];`,
        v,
        access_token: q.token,
      });
      assert.equal((json.response as unknown[]).length, 25);
      assert.ok(
        'response' in
          (await rawCall(q.emulator, 'messages.getConversations', { v, access_token: q.token }))
            .json,
      );
      assertErrorEnvelope(
        (await rawCall(q.emulator, 'messages.getConversations', { v, access_token: q.token })).json,
        6,
      );
    } finally {
      await q.emulator.close();
    }
  });

  void it('GET /__emulator/state shows chats, members, admins, calls and messages, but no token', async () => {
    const res = await fetch(`${p.emulator.url}/__emulator/state`);
    const text = await res.text();
    assert.ok(!text.includes(p.token));
    const state = JSON.parse(text) as {
      communities: unknown[];
      chats: { title: string; admins: number[] }[];
      calls: { status: string; joinLink: string }[];
      messages: unknown[];
    };
    assert.deepEqual(state.communities, [{ communityId: COMMUNITY_ID, tokens: 1, nextChatId: 3 }]);
    assert.equal(state.chats[0]?.title, 'Учительская');
    assert.deepEqual(state.chats[0]?.admins, [-COMMUNITY_ID]);
    assert.equal(state.calls[0]?.status, 'finished');
    assert.equal(state.messages.length, 1);
  });

  void it('fault injection: HTTP 502 with an HTML page; a connection dropped after the action still applied it', async () => {
    const q = await startPlatform();
    try {
      await control(q.emulator, 'faults', { http502Rate: 1 });
      const res = await fetch(
        `${q.emulator.url}/method/messages.getConversations?v=${v}&access_token=${q.token}`,
      );
      assert.equal(res.status, 502);
      assert.match(await res.text(), /Bad Gateway/);
      await control(q.emulator, 'faults', { http502Rate: 0, dropAfterRate: 1 });
      await assert.rejects(
        rawCall(q.emulator, 'messages.createChat', {
          title: 'Потерянный ответ',
          v,
          access_token: q.token,
        }),
      );
      assert.equal(q.emulator.snapshot().chats.length, 1);
      await control(q.emulator, 'reset', {});
      assert.equal(q.emulator.snapshot().chats.length, 0);
      assert.equal(q.emulator.faults.dropAfterRate, 0);
    } finally {
      await q.emulator.close();
    }
  });

  void it('scripted faults (strikeNext) strike the next request of their method exactly once and report what they struck', async () => {
    const q = await startPlatform();
    try {
      const lost = q.emulator.strikeNext('dropAfter', 'messages.createChat');
      const refused = q.emulator.strikeNext('error10', 'messages.createChat');
      const list = { v, access_token: q.token };
      assert.equal((await rawCall(q.emulator, 'messages.getConversations', list)).status, 200);
      await assert.rejects(
        rawCall(q.emulator, 'messages.createChat', { title: 'Потерянный ответ', ...list }),
      );
      assert.deepEqual(await lost, {
        method: 'messages.createChat',
        params: { title: 'Потерянный ответ', v },
      });
      assert.equal(q.emulator.snapshot().chats.length, 1, 'the dropped createChat applied');
      const second = await rawCall(q.emulator, 'messages.createChat', { title: 'Второй', ...list });
      assertErrorEnvelope(second.json, 10);
      assert.equal((await refused).params.title, 'Второй');
      const third = await rawCall(q.emulator, 'messages.createChat', { title: 'Третий', ...list });
      assert.ok('response' in third.json, 'a strike struck twice');
      assert.deepEqual(
        q.emulator.snapshot().chats.map((c) => c.title),
        ['Потерянный ответ', 'Третий'],
      );
    } finally {
      await q.emulator.close();
    }
  });

  void it('control endpoints reject bad bodies with 400 and name the field', async () => {
    const res = await fetch(`${p.emulator.url}/__emulator/faults`, {
      method: 'POST',
      body: JSON.stringify({ errorRate10: 3 }),
    });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: string }).error, /errorRate10/);
  });
});

void describe('emulator state file', () => {
  void it('persists hashed tokens and chats, and a restart on the same file serves them again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vk-emulator-'));
    const stateFile = join(dir, 'state.json');
    const token = newToken();
    try {
      const first = await createEmulator({ stateFile, communities: [{ communityId: 9, token }] });
      await rawCall(first, 'messages.createChat', {
        title: 'Сохранится',
        v: '5.199',
        access_token: token,
      });
      await first.close();
      const text = await readFile(stateFile, 'utf8');
      assert.ok(!text.includes(token));
      const second = await createEmulator({ stateFile });
      try {
        const { json } = await rawCall(second, 'messages.getConversations', {
          v: '5.199',
          access_token: token,
        });
        const r = json.response as {
          items: { conversation: { chat_settings: { title: string } } }[];
        };
        assert.equal(r.items[0]?.conversation.chat_settings.title, 'Сохранится');
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

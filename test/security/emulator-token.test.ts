import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { PEER_CHAT_OFFSET, createEmulator, type Emulator } from '../../src/emulator/vk';
import { MAX_SCRIPT_NESTING } from '../../src/emulator/vk/vkscript';

/**
 * The emulator's token check (reference/vk-api.md §1, §5.2; DESIGN §5), spoken to over the wire
 * with no client in between: the token decides which community a request acts for, and nothing a
 * client sends can make it act for another. Community A holds one chat; community B holds three
 * chats with members, a message and a running call. A's valid token then tries B's chats and
 * call by guessing their IDs (chat IDs are local to a community, so A's `chat_id=2` is nobody's),
 * directly and inside `execute` with B's token among the inner parameters; tokens are sent
 * missing, empty, invalid, twice with different values, in a JSON body, and `v` is left out.
 * B's chats, members, messages and call must be exactly as before.
 */

const V = '5.199';
const A = 501;
const B = 502;
const tokenA = `vk1.a.${randomBytes(24).toString('base64url')}`;
const tokenB = `vk1.a.${randomBytes(24).toString('base64url')}`;

interface Wire {
  readonly query?: string;
  /** Form fields in order; a name may repeat. */
  readonly form?: readonly (readonly [string, string])[];
  readonly headers?: Record<string, string>;
  /** A raw body instead of `form`. */
  readonly body?: string;
}

interface VkError {
  error_code: number;
  error_msg: string;
  request_params: { key: string; value: string }[];
}

async function call(
  emulator: Emulator,
  method: string,
  wire: Wire,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const form = new URLSearchParams();
  for (const [k, v] of wire.form ?? []) form.append(k, v);
  const res = await fetch(`${emulator.url}/method/${method}${wire.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...wire.headers },
    body: wire.body ?? form.toString(),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function vkError(json: Record<string, unknown>): VkError {
  assert.ok('error' in json, `expected an error, got ${JSON.stringify(json).slice(0, 300)}`);
  return json.error as VkError;
}

/** Everything of community B the platform holds: it must never change here. */
function footprintOfB(emulator: Emulator): string {
  const s = emulator.snapshot();
  return JSON.stringify({
    chats: s.chats.filter((c) => c.communityId === B),
    calls: s.calls.filter((c) => c.communityId === B),
    messages: s.messages.filter((m) => m.communityId === B),
    community: s.communities.find((c) => c.communityId === B),
  });
}

void describe('the emulator token check cannot be bypassed by the client', () => {
  let emulator: Emulator;
  let callOfB = '';
  let bFootprint = '';
  const membersOfA = [601, 602];
  /** As community A, with A's token in the body. */
  const asA = (method: string, params: Record<string, string>) =>
    call(emulator, method, {
      form: [...Object.entries(params), ['v', V], ['access_token', tokenA]],
    });

  before(async () => {
    emulator = await createEmulator({
      options: { rateLimitPerSecond: 10_000 },
      communities: [
        { communityId: A, token: tokenA },
        { communityId: B, token: tokenB },
      ],
    });
    const asB = (method: string, params: Record<string, string>) =>
      call(emulator, method, {
        form: [...Object.entries(params), ['v', V], ['access_token', tokenB]],
      });
    for (const title of ['B: Учительская', 'B: 5А родители', 'B: 5А ученики']) {
      assert.ok(
        'response' in (await asB('messages.createChat', { title, user_ids: '701,702,703' })).json,
      );
    }
    assert.ok(
      'response' in
        (
          await asB('messages.send', {
            peer_id: String(PEER_CHAT_OFFSET + 2),
            random_id: '1',
            message: 'B only',
          })
        ).json,
    );
    const started = (await asB('calls.start', {})).json as { response: { call_id: string } };
    callOfB = started.response.call_id;
    assert.ok(
      'response' in
        (
          await asA('messages.createChat', {
            title: 'A: Учительская',
            user_ids: membersOfA.join(','),
          })
        ).json,
    );
    bFootprint = footprintOfB(emulator);
  });

  after(async () => {
    assert.equal(
      footprintOfB(emulator),
      bFootprint,
      "community B's chats, members, messages or call changed",
    );
    await emulator.close();
  });

  const expectCode = async (
    t: TestContext,
    what: string,
    reply: Promise<{ status: number; json: Record<string, unknown> }>,
    code: number,
  ): Promise<VkError> => {
    const { status, json } = await reply;
    assert.equal(status, 200, `${what}: VK answers errors with HTTP 200`);
    const error = vkError(json);
    assert.equal(error.error_code, code, `${what}: ${error.error_msg}`);
    // VK echoes every parameter but `access_token`; a token a client puts anywhere else (another
    // name, inside `code`) comes back as sent.
    for (const p of error.request_params) {
      assert.ok(p.key !== 'access_token', `${what}: request_params echo the token`);
      if (p.key !== 'code' && p.key !== 'ACCESS_TOKEN') {
        assert.ok(
          !p.value.includes(tokenA) && !p.value.includes(tokenB),
          `${what}: request_params echo a token`,
        );
      }
    }
    t.diagnostic(`${what} → error ${code}: ${error.error_msg}`);
    return error;
  };

  void it('no, empty or invalid token → error 5, before anything else is looked at', async (t) => {
    const read = 'messages.getConversations';
    await expectCode(t, 'no token', call(emulator, read, { form: [['v', V]] }), 5);
    await expectCode(
      t,
      'empty access_token',
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', ''],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'empty Bearer',
      call(emulator, read, { form: [['v', V]], headers: { authorization: 'Bearer ' } }),
      5,
    );
    await expectCode(
      t,
      'unknown token',
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', `vk1.a.${randomBytes(24).toString('base64url')}`],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      "A's token with a trailing space",
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', `${tokenA} `],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      "A's token in upper case",
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', tokenA.toUpperCase()],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'the token under another name (ACCESS_TOKEN)',
      call(emulator, read, {
        form: [
          ['v', V],
          ['ACCESS_TOKEN', tokenA],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'the token as Basic credentials',
      call(emulator, read, { form: [['v', V]], headers: { authorization: `Basic ${tokenA}` } }),
      5,
    );
    await expectCode(
      t,
      'the token in a JSON body (VK reads no JSON)',
      call(emulator, read, {
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ v: V, access_token: tokenA }),
      }),
      5,
    );
    await expectCode(
      t,
      'an unknown method without a token',
      call(emulator, 'messages.nope', { form: [['v', V]] }),
      5,
    );
    await expectCode(
      t,
      'a write without a token',
      call(emulator, 'messages.createChat', {
        form: [
          ['v', V],
          ['title', 'x'],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'a bogus token and no v',
      call(emulator, read, { form: [['access_token', 'bogus-token-value']] }),
      5,
    );
  });

  void it('`v` missing or not 5.x with a valid token → error 8', async (t) => {
    const read = 'messages.getConversations';
    await expectCode(t, 'v missing', call(emulator, read, { form: [['access_token', tokenA]] }), 8);
    await expectCode(
      t,
      'v empty',
      call(emulator, read, {
        form: [
          ['access_token', tokenA],
          ['v', ''],
        ],
      }),
      8,
    );
    await expectCode(
      t,
      'v = 6.0',
      call(emulator, read, {
        form: [
          ['access_token', tokenA],
          ['v', '6.0'],
        ],
      }),
      8,
    );
  });

  void it('a token given twice with different values → error 5, whichever places they come from', async (t) => {
    const read = 'messages.getConversations';
    await expectCode(
      t,
      'query A, body B',
      call(emulator, read, {
        query: `?access_token=${tokenA}`,
        form: [
          ['v', V],
          ['access_token', tokenB],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'body A, Bearer B',
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', tokenA],
        ],
        headers: { authorization: `Bearer ${tokenB}` },
      }),
      5,
    );
    await expectCode(
      t,
      'query A, body A, Bearer B',
      call(emulator, read, {
        query: `?access_token=${tokenA}`,
        form: [
          ['v', V],
          ['access_token', tokenA],
        ],
        headers: { authorization: `Bearer ${tokenB}` },
      }),
      5,
    );
    await expectCode(
      t,
      'body A then body B',
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', tokenA],
          ['access_token', tokenB],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'an invalid token in the query beside a valid one in the body',
      call(emulator, read, {
        query: '?access_token=forged',
        form: [
          ['v', V],
          ['access_token', tokenA],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      'an empty access_token beside a valid Bearer',
      call(emulator, read, {
        form: [
          ['v', V],
          ['access_token', ''],
        ],
        headers: { authorization: `Bearer ${tokenA}` },
      }),
      5,
    );
    const same = await call(emulator, read, {
      query: `?access_token=${tokenA}`,
      form: [
        ['v', V],
        ['access_token', tokenA],
      ],
      headers: { authorization: `Bearer ${tokenA}` },
    });
    const titles = (
      same.json as { response: { items: { conversation: { chat_settings: { title: string } } }[] } }
    ).response.items.map((i) => i.conversation.chat_settings.title);
    assert.deepEqual(titles, ['A: Учительская']);
    t.diagnostic(
      'the same token in the query, the body and a Bearer header → A, and only A, is listed',
    );
  });

  void it("A's valid token reaches none of B's chats or calls by guessing their IDs", async (t) => {
    const peer = (chatId: number) => String(PEER_CHAT_OFFSET + chatId);
    await expectCode(
      t,
      "members of B's chat 2 as A",
      asA('messages.getConversationMembers', { peer_id: peer(2) }),
      927,
    );
    await expectCode(
      t,
      "members of B's chat 3 as A, with group_id = B",
      asA('messages.getConversationMembers', { peer_id: peer(3), group_id: String(B) }),
      927,
    );
    await expectCode(
      t,
      "B's chats by ID as A",
      asA('messages.getConversationsById', { peer_ids: [1, 2, 3].map(peer).join(',') }),
      927,
    );
    await expectCode(
      t,
      "a message into B's chat 2 as A",
      asA('messages.send', { peer_id: peer(2), random_id: '99', message: 'from A' }),
      927,
    );
    await expectCode(
      t,
      "a message into B's chat 3 by chat_id as A",
      asA('messages.send', { chat_id: '3', random_id: '98', message: 'from A' }),
      927,
    );
    await expectCode(
      t,
      "removing a member of B's chat 2 as A",
      asA('messages.removeChatUser', { chat_id: '2', member_id: '701' }),
      927,
    );
    await expectCode(
      t,
      "adding a user to B's chat 3 as A",
      asA('messages.addChatUser', { chat_id: '3', user_id: '666' }),
      927,
    );
    await expectCode(
      t,
      "making A an admin of B's chat 2",
      asA('messages.setMemberRole', { peer_id: peer(2), member_id: String(-A), role: 'admin' }),
      927,
    );
    await expectCode(
      t,
      "removing B itself from B's chat 2 as A",
      asA('messages.removeChatUser', { chat_id: '2', member_id: String(-B) }),
      927,
    );
    await expectCode(
      t,
      "ending B's call as A",
      asA('calls.forceFinish', { call_id: callOfB }),
      104,
    );
    await expectCode(
      t,
      'creating a chat as A for group_id = B',
      asA('messages.createChat', { title: 'x', group_id: String(B) }),
      100,
    );
    await expectCode(
      t,
      'starting a call as A for group_id = B',
      asA('calls.start', { group_id: String(B) }),
      100,
    );

    // Chat 1 exists in both communities: A's chat_id 1 is A's own chat, never B's.
    const members = (await asA('messages.getConversationMembers', { peer_id: peer(1) })).json as {
      response: { items: { member_id: number }[] };
    };
    assert.deepEqual(
      members.response.items.map((m) => m.member_id).sort(),
      [-A, ...membersOfA].sort(),
    );
    const listed = (await asA('messages.getConversations', { count: '200' })).json as {
      response: { items: { conversation: { chat_settings: { title: string } } }[] };
    };
    assert.deepEqual(
      listed.response.items.map((i) => i.conversation.chat_settings.title),
      ['A: Учительская'],
    );
    t.diagnostic(
      "chat_id 1 as A is A's own chat (members -501, 601, 602); A's conversation list holds A's chat only",
    );
  });

  void it("a token inside `execute` (code or inner parameters) neither replaces the caller's nor stands in for a missing one", async (t) => {
    const inner = (method: string, params: Record<string, string | number>) =>
      `API.${method}(${JSON.stringify({ ...params, access_token: tokenB })})`;
    const code = `return [${[
      inner('messages.getConversationMembers', { peer_id: PEER_CHAT_OFFSET + 2 }),
      inner('messages.send', {
        peer_id: PEER_CHAT_OFFSET + 3,
        random_id: 7,
        message: 'via execute',
      }),
      inner('calls.forceFinish', { call_id: callOfB }),
      inner('messages.removeChatUser', { chat_id: 2, member_id: 701 }),
    ].join(',')}];`;
    const { json } = await asA('execute', { code });
    const reply = json as {
      response: unknown[];
      execute_errors: { method: string; error_code: number }[];
    };
    assert.deepEqual(reply.response, [false, false, false, false]);
    assert.deepEqual(
      reply.execute_errors.map((e) => `${e.method} ${e.error_code}`),
      [
        'messages.getConversationMembers 927',
        'messages.send 927',
        'calls.forceFinish 104',
        'messages.removeChatUser 927',
      ],
    );
    t.diagnostic(
      `execute as A with B's token in every inner call → ${reply.execute_errors.map((e) => e.error_code).join(', ')}: each acted as A`,
    );

    const onlyInner = `return ${inner('messages.getConversations', {})};`;
    await expectCode(
      t,
      "execute without a token, B's token only inside the code",
      call(emulator, 'execute', {
        form: [
          ['v', V],
          ['code', onlyInner],
        ],
      }),
      5,
    );
    await expectCode(
      t,
      "execute with a forged token, B's token inside the code",
      call(emulator, 'execute', {
        form: [
          ['v', V],
          ['access_token', 'forged'],
          ['code', onlyInner],
        ],
      }),
      5,
    );
    // `execute` is not an `API.section.method`: a script cannot open a second token check.
    await expectCode(
      t,
      "execute calling execute with B's token",
      asA('execute', {
        code: `return API.execute({"code":"return 1;","access_token":"${tokenB}"});`,
      }),
      12,
    );
    const stored = (
      await asA('execute', { code: `return API.execute.run({"access_token":"${tokenB}"});` })
    ).json as { response: unknown; execute_errors: { error_code: number }[] };
    assert.equal(stored.response, false);
    assert.deepEqual(
      stored.execute_errors.map((e) => e.error_code),
      [3],
    );
    t.diagnostic("execute calling a stored procedure with B's token → inner error 3, as A");
  });

  void it('a script nested past the limit is code VK cannot compile (error 12), not a crash', async (t) => {
    const levels = 100_000;
    const cases: [string, string][] = [
      [`${levels} nested arrays`, `return ${'['.repeat(levels)}${']'.repeat(levels)};`],
      [`${levels} nested parentheses`, `return ${'('.repeat(levels)}1${')'.repeat(levels)};`],
      [`${levels} unary minuses`, `return ${'-'.repeat(levels)}1;`],
      [`a sum of ${levels} terms`, `return ${'1+'.repeat(levels)}1;`],
      [`a chain of ${levels} field reads`, `var a = {}; return a${'.b'.repeat(levels)};`],
      [
        `${MAX_SCRIPT_NESTING + 1} nested arrays`,
        `return ${'['.repeat(MAX_SCRIPT_NESTING + 1)}${']'.repeat(MAX_SCRIPT_NESTING + 1)};`,
      ],
    ];
    for (const [what, code] of cases) {
      const started = Date.now();
      await expectCode(t, `execute with ${what}`, asA('execute', { code }), 12);
      assert.ok(Date.now() - started < 5_000, `${what} took ${Date.now() - started} ms`);
    }
    const ok = (await asA('execute', { code: `return ${'['.repeat(20)}1${']'.repeat(20)};` })).json;
    assert.ok('response' in ok, JSON.stringify(ok));
    t.diagnostic('20 levels still run; the emulator answers normally afterwards');
  });
});

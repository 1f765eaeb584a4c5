import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, mongoServer, SCHOOL_ID, withApi, type ApiHarness } from './support';

const mongo = mongoServer();
before(() => mongo.start());
after(() => mongo.stop());

const run = (fn: (h: ApiHarness) => Promise<void>) => () => withApi(mongo.uri, fn);

const COMMUNITY = 4242;
const SECRET = 'PLANTEDCALLBACKSECRET-7f3a9c1e';
const CONFIRMATION = 'PLANTEDCONFIRM5e1d';
const CHAT_PEER = 2_000_000_007;

async function callbackMode(h: ApiHarness): Promise<void> {
  const settings = await h.app.inject({
    method: 'PUT',
    url: `/schools/${SCHOOL_ID}/settings`,
    headers: bearer(h.adminKey),
    payload: { communityId: COMMUNITY, token: 'community-token-for-the-callback-tests' },
  });
  assert.equal(settings.statusCode, 200, settings.body);
  const res = await putEvents(h, {
    mode: 'callback',
    callbackSecret: SECRET,
    confirmation: CONFIRMATION,
  });
  assert.equal(res.statusCode, 200, res.body);
}

function putEvents(h: ApiHarness, body: object) {
  return h.app.inject({
    method: 'PUT',
    url: `/schools/${SCHOOL_ID}/events`,
    headers: bearer(h.adminKey),
    payload: body,
  });
}

function post(h: ApiHarness, body: unknown, schoolId = SCHOOL_ID) {
  return h.app.inject({
    method: 'POST',
    url: `/vk/callback/${schoolId}`,
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A member removed by hand, as VK posts it (`message_new` with `chat_kick_user`). */
function kick(eventId: string, secret: string | null = SECRET) {
  return {
    type: 'message_new',
    event_id: eventId,
    v: '5.199',
    group_id: COMMUNITY,
    ...(secret === null ? {} : { secret }),
    object: {
      message: {
        id: 0,
        peer_id: CHAT_PEER,
        from_id: 555,
        date: 1_700_000_000,
        text: '',
        action: { type: 'chat_kick_user', member_id: 777 },
        attachments: [],
      },
    },
  };
}

const handedOn = (h: ApiHarness) =>
  h.gateway.calls.filter((c) => c.method === 'platformFactsReceived');

describe('Callback API (V5, C3)', () => {
  it(
    'the confirmation request is answered with the confirmation string; an accepted event with ok, handed to the listener once',
    run(async (h) => {
      await callbackMode(h);
      const confirm = await post(h, { type: 'confirmation', group_id: COMMUNITY });
      assert.equal(confirm.statusCode, 200);
      assert.equal(confirm.body, CONFIRMATION);

      const ok = await post(h, kick('ev-1'));
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.body, 'ok');
      assert.deepEqual(handedOn(h), [
        {
          method: 'platformFactsReceived',
          args: {
            schoolId: SCHOOL_ID,
            facts: [{ kind: 'membersChanged', peerId: CHAT_PEER, eventId: 'ev-1' }],
          },
        },
      ]);
    }),
  );

  it(
    'a forged event (wrong or no secret, another community), a replayed event_id and a malformed body are dropped and change nothing',
    run(async (h) => {
      await callbackMode(h);
      assert.equal((await post(h, kick('ev-f1', 'a-wrong-secret-of-some-length'))).statusCode, 403);
      assert.equal((await post(h, kick('ev-f2', null))).statusCode, 403);
      assert.equal((await post(h, { ...kick('ev-f3'), group_id: COMMUNITY + 1 })).statusCode, 403);
      assert.equal(
        (await post(h, { type: 'confirmation', group_id: COMMUNITY, secret: 'wrong-secret' }))
          .statusCode,
        403,
        'a confirmation with a wrong secret gets no confirmation string',
      );
      assert.equal((await post(h, '{"type": "message_new", "group_id": ')).statusCode, 400);
      assert.equal((await post(h, { ...kick('ev-m'), event_id: undefined })).statusCode, 400);
      assert.equal((await post(h, kick('ev-other'), 'sch-unknown')).statusCode, 404);
      assert.equal(handedOn(h).length, 0, 'nothing forged or malformed reached the listener');

      assert.equal((await post(h, kick('ev-r'))).body, 'ok');
      const replay = await post(h, kick('ev-r'));
      assert.equal(replay.statusCode, 200, 'VK is told ok, so it stops sending it');
      assert.equal(handedOn(h).length, 1, 'the replay was not handed on again');
    }),
  );

  it(
    'a school in long-poll mode takes no callbacks; callback mode needs the secret and the confirmation string',
    run(async (h) => {
      await h.app.inject({
        method: 'PUT',
        url: `/schools/${SCHOOL_ID}/settings`,
        headers: bearer(h.adminKey),
        payload: { communityId: COMMUNITY, token: 'community-token-for-the-callback-tests' },
      });
      assert.equal((await post(h, kick('ev-1'))).statusCode, 404);
      const missing = await putEvents(h, { mode: 'callback', callbackSecret: SECRET });
      assert.equal(missing.statusCode, 400);
      assert.match(missing.body, /confirmation/);
      const short = await putEvents(h, {
        mode: 'callback',
        callbackSecret: 'short',
        confirmation: 'x',
      });
      assert.equal(short.statusCode, 400);
      assert.match(short.body, /callbackSecret/);
      assert.ok(
        !h.gateway.calls.some((c) => c.method === 'eventsSettingsChanged'),
        'refused settings changed nothing',
      );
    }),
  );

  it(
    '§7: the planted callback secret and confirmation string are in no settings answer, error, log line or MongoDB document in clear',
    run(async (h) => {
      await callbackMode(h);
      const answers: string[] = [];
      const keep = async (res: Promise<{ body: string; headers: object }>) => {
        const r = await res;
        answers.push(r.body, JSON.stringify(r.headers));
      };
      await keep(
        h.app.inject({
          method: 'GET',
          url: `/schools/${SCHOOL_ID}/events`,
          headers: bearer(h.adminKey),
        }),
      );
      await keep(putEvents(h, { mode: 'callback' }));
      await keep(putEvents(h, { mode: 'callback', callbackSecret: SECRET, confirmation: 7 }));
      await keep(putEvents(h, { mode: 'callback', callbackSecret: SECRET, extra: CONFIRMATION }));
      await keep(post(h, kick('ev-1', `${SECRET}x`)));
      await keep(post(h, { ...kick('ev-2'), group_id: 'x' }));
      await keep(post(h, kick('ev-3')));
      await keep(post(h, kick('ev-3')));
      const reply = JSON.parse(answers[0] ?? '{}') as Record<string, unknown>;
      assert.equal(reply.callbackSecretSet, true);
      assert.equal(reply.confirmationSet, true);
      const dump: string[] = [];
      for (const c of await h.db.listCollections().toArray()) {
        dump.push(JSON.stringify(await h.db.collection(c.name).find({}).toArray()));
      }
      for (const planted of [SECRET, CONFIRMATION]) {
        assert.ok(!answers.join('\n').includes(planted), `${planted} in an API answer`);
        assert.ok(!h.logs().includes(planted), `${planted} in the logs`);
        assert.ok(!dump.join('\n').includes(planted), `${planted} in clear in MongoDB`);
        assert.ok(
          !JSON.stringify(h.gateway.calls).includes(planted),
          `${planted} in a workflow payload`,
        );
      }
    }),
  );
});

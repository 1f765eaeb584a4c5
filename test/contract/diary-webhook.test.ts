import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import { ErrorType, TypedError } from '../../src/contracts/errors';
import {
  DIARY_IDEMPOTENCY_HEADER,
  DIARY_SIGNATURE_HEADER,
  DIARY_TIMESTAMP_HEADER,
  signDiaryBody,
  type DiaryEvent,
} from '../../src/diary/events';
import {
  createWebhookDelivery,
  type DiaryDelivery,
  type ProxySettings,
} from '../../src/diary/webhook';
import { WEBHOOK_PATH, createPortalEmulator, type PortalEmulator } from '../../src/emulator/portal';

/**
 * V4: the push adapter against the city portal emulator: signed, delivered once however often
 * it is retried, and every failure typed so Temporal knows whether to retry.
 */

const SCHOOL = 'school-1';
const SECRET = 'school-1-webhook-secret-0123456789';
const PROXY_USER = 'school-proxy';
const PROXY_PASSWORD = 'S3cret-proxy-pass!';

let seq = 0;
function event(overrides: Partial<DiaryEvent> = {}): DiaryEvent {
  seq++;
  return {
    eventId: `lesson-${seq}:linkPublished`,
    cursor: seq,
    schoolId: SCHOOL,
    journalId: 'journal-1',
    lessonId: `lesson-${seq}`,
    kind: 'linkPublished',
    joinLink: `https://vk.com/call/join/link-${seq}`,
    occurredAt: new Date().toISOString(),
    ...overrides,
  };
}

async function typedFailure(promise: Promise<unknown>, type: ErrorType): Promise<TypedError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof TypedError, String(err));
    assert.equal(err.type, type, err.message);
    return err;
  }
  assert.fail(`expected ${type}`);
}

type ProxyServer = Server & {
  authenticate?: ((req: IncomingMessage) => boolean | Promise<boolean>) | 'negotiate' | undefined;
};

/** A real HTTP proxy (npm `proxy`, ESM-only, hence the dynamic import) requiring Basic auth. */
async function startProxy(): Promise<{
  port: number;
  connects: () => number;
  close(): Promise<void>;
}> {
  const { createProxy } = await import('proxy');
  let connects = 0;
  const server: ProxyServer = createProxy(createServer());
  server.on('connect', () => connects++);
  const expected = `Basic ${Buffer.from(`${PROXY_USER}:${PROXY_PASSWORD}`).toString('base64')}`;
  server.authenticate = (req) => req.headers['proxy-authorization'] === expected;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connects: () => connects,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

void describe('V4: e-diary webhook delivery against the portal emulator', () => {
  let portal: PortalEmulator;
  let hook: string;
  const open: DiaryDelivery[] = [];
  const delivery = (
    extra: Partial<Parameters<typeof createWebhookDelivery>[0]> = {},
  ): DiaryDelivery => {
    const d = createWebhookDelivery({ url: hook, secret: SECRET, proxy: null, ...extra });
    open.push(d);
    return d;
  };

  before(async () => {
    portal = await createPortalEmulator({ schools: [{ schoolId: SCHOOL, secret: SECRET }] });
    hook = `${portal.url}${WEBHOOK_PATH}`;
  });
  beforeEach(() => portal.setFaults({}));
  after(async () => {
    await Promise.all(open.map((d) => d.close()));
    await portal.close();
  });

  void it('V4: an event is delivered once, signed, with its idempotency key', async () => {
    const before = portal.distinct();
    const e = event();
    assert.deepEqual(await delivery().deliver(e), { status: 200, duplicate: false });
    assert.equal(portal.distinct(), before + 1);
    const got = portal.deliveries().find((d) => d.event.eventId === e.eventId);
    assert.deepEqual(got?.event, e);
    assert.equal(got?.attempts, 1);
  });

  void it('V4: a withdrawn link (null) is delivered too', async () => {
    const e = event({ kind: 'linkWithdrawn', joinLink: null });
    assert.equal((await delivery().deliver(e)).duplicate, false);
    assert.equal(
      portal.deliveries().find((d) => d.event.eventId === e.eventId)?.event.joinLink,
      null,
    );
  });

  void it('V4: 503, 500, 408 and 429 are DiaryUnavailable (retryable), nothing stored', async () => {
    for (const failStatus of [503, 500, 408, 429]) {
      portal.setFaults({ failNext: 1, failStatus });
      const before = portal.distinct();
      const err = await typedFailure(delivery().deliver(event()), ErrorType.DiaryUnavailable);
      assert.equal(err.message, `portal answered ${failStatus}`);
      assert.equal(err.nonRetryable, false);
      assert.equal(portal.distinct(), before);
    }
  });

  void it('V4: a portal that is down answers 503 until it is back', async () => {
    portal.setFaults({ down: true });
    const e = event();
    await typedFailure(delivery().deliver(e), ErrorType.DiaryUnavailable);
    await typedFailure(delivery().deliver(e), ErrorType.DiaryUnavailable);
    portal.setFaults({});
    assert.equal((await delivery().deliver(e)).duplicate, false);
    assert.equal(portal.deliveries().find((d) => d.event.eventId === e.eventId)?.attempts, 3);
  });

  void it('V4: 400 and other 4xx are DiaryRejected (not retryable)', async () => {
    for (const failStatus of [400, 404, 422]) {
      portal.setFaults({ failNext: 1, failStatus });
      const err = await typedFailure(delivery().deliver(event()), ErrorType.DiaryRejected);
      assert.match(err.message, new RegExp(`^portal answered ${failStatus}`));
      assert.equal(err.nonRetryable, true);
    }
  });

  void it('V4: a portal that never answers is DiaryUnavailable within the timeout', async () => {
    portal.setFaults({ hangNext: 1 });
    const started = Date.now();
    const err = await typedFailure(
      delivery({ timeoutMs: 400 }).deliver(event()),
      ErrorType.DiaryUnavailable,
    );
    const took = Date.now() - started;
    assert.match(err.message, /did not answer within 400 ms/);
    assert.ok(took >= 350 && took < 2_000, `gave up after ${took} ms`);
  });

  void it('V4: a slow portal inside the timeout is still a delivery', async () => {
    portal.setFaults({ delayMs: 150 });
    assert.equal((await delivery({ timeoutMs: 2_000 }).deliver(event())).status, 200);
  });

  void it('V4: stored then failed (ackThenFail): the retry is acknowledged as a duplicate, stored once', async () => {
    portal.setFaults({ ackThenFail: 1 });
    const e = event();
    const before = portal.distinct();
    await typedFailure(delivery().deliver(e), ErrorType.DiaryUnavailable);
    assert.deepEqual(await delivery().deliver(e), { status: 200, duplicate: true });
    assert.equal(portal.distinct(), before + 1);
    assert.equal(portal.deliveries().filter((d) => d.event.eventId === e.eventId).length, 1);
    assert.equal(portal.deliveries().find((d) => d.event.eventId === e.eventId)?.attempts, 2);
  });

  void it('V4: a forged signature, an unknown school and a replayed old delivery are 401', async () => {
    const e = event();
    const body = JSON.stringify(e);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const send = async (headers: Record<string, string>, text = body): Promise<number> => {
      const res = await request(hook, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [DIARY_IDEMPOTENCY_HEADER]: e.eventId,
          ...headers,
        },
        body: text,
      });
      await res.body.dump();
      return res.statusCode;
    };
    const rejectedBefore = portal.state().rejected;
    const forged = signDiaryBody({ secret: 'not-the-school-secret', timestamp, body });
    assert.equal(
      await send({ [DIARY_SIGNATURE_HEADER]: forged, [DIARY_TIMESTAMP_HEADER]: timestamp }),
      401,
    );
    const other = JSON.stringify({ ...e, schoolId: 'school-unknown' });
    const signedOther = signDiaryBody({ secret: SECRET, timestamp, body: other });
    assert.equal(
      await send(
        { [DIARY_SIGNATURE_HEADER]: signedOther, [DIARY_TIMESTAMP_HEADER]: timestamp },
        other,
      ),
      401,
    );
    assert.equal(await send({ [DIARY_TIMESTAMP_HEADER]: timestamp }), 401, 'no signature at all');
    const replay = delivery({ now: () => Date.now() - 600_000 });
    const err = await typedFailure(replay.deliver(e), ErrorType.DiaryRejected);
    assert.match(err.message, /^portal answered 401/);
    assert.equal(portal.state().rejected, rejectedBefore + 4);
    assert.equal(
      portal.deliveries().some((d) => d.event.eventId === e.eventId),
      false,
    );
  });

  void it('V4: a refused connection is DiaryUnavailable, and no message carries a secret or the query', async () => {
    const closed = await createPortalEmulator();
    const url = `${closed.url}${WEBHOOK_PATH}?token=query-secret-value`;
    await closed.close();
    const d = delivery({ url });
    const err = await typedFailure(d.deliver(event()), ErrorType.DiaryUnavailable);
    assert.match(err.message, /cannot reach the portal 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    portal.setFaults({ failNext: 1, failStatus: 403 });
    const refused = await typedFailure(
      delivery({ url: `${hook}?token=query-secret-value` }).deliver(event()),
      ErrorType.DiaryRejected,
    );
    for (const e of [err, refused]) {
      const text = `${e.message} ${JSON.stringify(e.details)}`;
      assert.doesNotMatch(text, /query-secret-value|school-1-webhook-secret/);
    }
  });

  void it('V4: through the school proxy (S2) with Basic auth, and a wrong password is ProxyFailure', async () => {
    const proxy = await startProxy();
    const settings = (password: string): ProxySettings => ({
      server: '127.0.0.1',
      port: proxy.port,
      username: PROXY_USER,
      password,
      auth: true,
    });
    // Their own deliveries, closed before the proxy: an open CONNECT tunnel would hold it up.
    const through = delivery({ proxy: settings(PROXY_PASSWORD) });
    const refused = delivery({ proxy: settings('wrong-proxy-password') });
    try {
      const e = event();
      assert.equal((await through.deliver(e)).status, 200);
      assert.ok(proxy.connects() >= 1, 'no tunnel was opened through the proxy');
      assert.ok(portal.deliveries().some((d) => d.event.eventId === e.eventId));
      const err = await typedFailure(refused.deliver(event()), ErrorType.ProxyFailure);
      assert.match(err.message, /HTTP 407/);
      assert.doesNotMatch(`${err.message} ${JSON.stringify(err.details)}`, /wrong-proxy-password/);
    } finally {
      await Promise.all([through.close(), refused.close()]);
      await proxy.close();
    }
  });
});

void describe('V4: the portal emulator controls over HTTP', () => {
  void it('schools, faults and state are set and read under /__portal/', async () => {
    const portal = await createPortalEmulator();
    const post = async (path: string, body: unknown): Promise<number> => {
      const res = await request(`${portal.url}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
      });
      await res.body.dump();
      return res.statusCode;
    };
    const d = createWebhookDelivery({
      url: `${portal.url}${WEBHOOK_PATH}`,
      secret: SECRET,
      proxy: null,
    });
    try {
      assert.equal(await post('/__portal/schools', { schoolId: SCHOOL, secret: SECRET }), 200);
      assert.equal(await post('/__portal/faults', { failNext: 1, failStatus: 502 }), 200);
      assert.equal(await post('/__portal/faults', { failNext: -1 }), 400);
      await typedFailure(d.deliver(event()), ErrorType.DiaryUnavailable);
      const e = event();
      await d.deliver(e);
      await d.deliver(e);
      const res = await request(`${portal.url}/__portal/state`);
      const state = (await res.body.json()) as {
        distinct: number;
        duplicates: number;
        schools: string[];
      };
      assert.deepEqual(
        { distinct: state.distinct, duplicates: state.duplicates, schools: state.schools },
        { distinct: 1, duplicates: 1, schools: [SCHOOL] },
      );
      assert.doesNotMatch(
        JSON.stringify(state),
        new RegExp(SECRET),
        'the state never shows a secret',
      );
    } finally {
      await d.close();
      await portal.close();
    }
  });
});

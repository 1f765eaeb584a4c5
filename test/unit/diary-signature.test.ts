import assert from 'node:assert/strict';
import crypto, { createHmac } from 'node:crypto';
import { mock, test } from 'node:test';
import {
  diaryEventSchema,
  signDiaryBody,
  verifyDiarySignature,
  type DiaryEvent,
} from '../../src/diary/events';

const SECRET = 'school-webhook-secret-0123456789';
const NOW = Date.parse('2025-03-03T09:40:00Z');
const TS = String(NOW / 1000);

const event: DiaryEvent = {
  eventId: 'lesson-7:linkPublished',
  cursor: 1,
  schoolId: 'school-1',
  journalId: 'journal-3',
  lessonId: 'lesson-7',
  kind: 'linkPublished',
  joinLink: 'https://vk.com/call/join/abc',
  occurredAt: '2025-03-03T09:40:00.000Z',
};
const body = JSON.stringify(event);

function verify(overrides: Partial<Parameters<typeof verifyDiarySignature>[0]> = {}): boolean {
  const signature = signDiaryBody({ secret: SECRET, timestamp: TS, body });
  return verifyDiarySignature({
    secret: SECRET,
    timestamp: TS,
    body,
    signature,
    now: NOW,
    ...overrides,
  });
}

void test('V4: the signature is sha256= and the hex HMAC-SHA256 of "<timestamp>.<body>"', () => {
  const expected = createHmac('sha256', SECRET).update(`${TS}.${body}`).digest('hex');
  assert.equal(signDiaryBody({ secret: SECRET, timestamp: TS, body }), `sha256=${expected}`);
  assert.equal(
    signDiaryBody({ secret: SECRET, timestamp: Number(TS), body }),
    `sha256=${expected}`,
  );
});

void test('V4: a delivery signed with the school secret verifies', () => {
  assert.equal(verify(), true);
});

void test('V4: a tampered body fails', () => {
  const tampered = body.replace('abc', 'evil');
  assert.equal(verify({ body: tampered }), false);
});

void test('V4: a signature made with another secret fails', () => {
  const signature = signDiaryBody({ secret: 'another-school-secret', timestamp: TS, body });
  assert.equal(verify({ signature }), false);
});

void test('V4: the timestamp is signed: a replay with a fresh timestamp header fails', () => {
  const old = String(NOW / 1000 - 3600);
  const signature = signDiaryBody({ secret: SECRET, timestamp: old, body });
  assert.equal(verify({ signature, timestamp: TS }), false);
});

void test('V4: an old delivery replayed after the tolerance fails, one inside it passes', () => {
  assert.equal(verify({ now: NOW + 301_000 }), false);
  assert.equal(verify({ now: NOW - 301_000 }), false, 'a timestamp from the future fails too');
  assert.equal(verify({ now: NOW + 299_000 }), true);
  assert.equal(verify({ now: NOW + 60_000, toleranceSeconds: 30 }), false);
});

void test('V4: missing or malformed headers fail without throwing', () => {
  assert.equal(verify({ signature: undefined }), false);
  assert.equal(verify({ timestamp: undefined }), false);
  assert.equal(verify({ timestamp: '1.7e9' }), false);
  assert.equal(verify({ signature: 'sha256=short' }), false);
  assert.equal(
    verify({ signature: signDiaryBody({ secret: SECRET, timestamp: TS, body }).toUpperCase() }),
    false,
  );
});

void test('V4: the signature is compared in constant time (crypto.timingSafeEqual)', () => {
  const spy = mock.method(crypto, 'timingSafeEqual');
  try {
    assert.equal(verify(), true);
    const forged = `sha256=${'0'.repeat(64)}`;
    assert.equal(verify({ signature: forged }), false);
    assert.equal(spy.mock.callCount(), 2);
  } finally {
    spy.mock.restore();
  }
});

void test('V4: the event carries IDs and the link only; a withdrawn link is null', () => {
  assert.deepEqual(Object.keys(diaryEventSchema.shape).sort(), [
    'cursor',
    'eventId',
    'joinLink',
    'journalId',
    'kind',
    'lessonId',
    'occurredAt',
    'schoolId',
  ]);
  assert.ok(
    diaryEventSchema.safeParse({ ...event, kind: 'linkWithdrawn', joinLink: null }).success,
  );
  assert.equal(
    diaryEventSchema.safeParse({ ...event, joinLink: 'javascript:alert(1)' }).success,
    false,
  );
  assert.equal(diaryEventSchema.safeParse({ ...event, cursor: 0 }).success, false);
  assert.equal(diaryEventSchema.safeParse({ ...event, occurredAt: 'yesterday' }).success, false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PublicSchoolSettings } from '../../src/contracts/settings';
import type { MessengerSettings } from '../../src/messenger/port';
import { createMessengerProvider } from '../../src/messenger/provider';
import type { SettingsStore } from '../../src/store/settings-store';

/**
 * The messenger provider the activities share: a sync run, the calls' starts and the per-chat
 * applies of older histories (four at a time), so after a settings change they all ask for the
 * school's messenger at once. They must get one new
 * messenger (one undici dispatcher), not one each with all but the last leaked.
 */
function fakeSettings() {
  const state = {
    updatedAt: '2026-11-28T10:00:00.000Z',
    token: 'first-token-0123456789',
    loads: 0,
  };
  const store: Pick<SettingsStore, 'getPublic' | 'messengerSettings'> = {
    getPublic: async (schoolId): Promise<PublicSchoolSettings> => {
      await Promise.resolve();
      return {
        schoolId,
        communityId: 42,
        tokenSet: true,
        proxy: null,
        period: '30',
        enabled: true,
        removalThreshold: 0.1,
        removeUnmanaged: false,
        updatedAt: state.updatedAt,
      };
    },
    messengerSettings: async ({
      baseUrl,
      apiVersion,
      rateLimitPerSecond,
    }): Promise<MessengerSettings> => {
      state.loads += 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { communityId: 42, token: state.token, baseUrl, apiVersion, rateLimitPerSecond };
    },
  };
  return { store, state };
}

void test('S1: activities asking at once after a settings change share one new messenger; the old one is closed', async () => {
  const { store, state } = fakeSettings();
  const provider = createMessengerProvider({
    settings: store,
    baseUrl: 'http://127.0.0.1:9',
    apiVersion: '5.199',
    rateLimitPerSecond: 20,
  });
  try {
    const first = await Promise.all([1, 2, 3, 4].map(() => provider.forSchool('s1')));
    assert.equal(new Set(first.map((s) => s.messenger)).size, 1, 'four messengers for one school');
    assert.equal(state.loads, 1);

    state.updatedAt = '2026-11-28T10:05:00.000Z';
    state.token = 'second-token-0123456789';
    let closed = 0;
    const old = first[0]?.messenger;
    assert.ok(old);
    const close = old.close.bind(old);
    old.close = async () => {
      closed += 1;
      await close();
    };
    const second = await Promise.all([1, 2, 3, 4].map(() => provider.forSchool('s1')));
    assert.equal(
      new Set(second.map((s) => s.messenger)).size,
      1,
      'concurrent callers built several messengers',
    );
    assert.notEqual(second[0]?.messenger, old);
    assert.equal(state.loads, 2);
    assert.equal(closed, 1, 'the previous messenger is closed exactly once');
  } finally {
    await provider.close();
  }
});

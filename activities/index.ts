import type { Db } from 'mongodb';
import type { RunIncidentReader } from '../src/client/run-incidents';
import type { Logger } from 'pino';
import type { MessengerProvider } from '../src/messenger/provider';
import { createCallStore } from '../src/store/call-store';
import { createDiaryOutbox } from '../src/store/diary-outbox';
import { createWebhookDelivery } from '../src/diary/webhook';
import { createRosterStore } from '../src/store/roster-store';
import type { SettingsStore } from '../src/store/settings-store';
import { createSyncStore } from '../src/store/sync-store';
import type { WorkflowGateway } from '../src/client/workflow-gateway';
import { createArchiveActivities } from './archive';
import { withBoundary } from './boundary';
import { createCallActivities } from './calls';
import { createDiaryActivities, createDiaryRecorder } from './diary';
import { createPlatformEventActivities } from './platform-events';
import { interpretPlatformEvent, type InterpretOptions } from '../src/messenger/platform-events';
import { createSyncActivities } from './sync';

export interface ActivityDeps {
  readonly db: Db;
  readonly logger: Logger;
  readonly settings: SettingsStore;
  readonly messengers: MessengerProvider;
  readonly gateway: Pick<
    WorkflowGateway,
    | 'ensureJournalCalls'
    | 'lessonsChanged'
    | 'diaryEventsAdded'
    | 'callEndedOnPlatform'
    | 'ensurePlatformEvents'
    | 'rosterChanged'
  >;
  /** Which UNCONFIRMED platform signal says a call ended (src/messenger/platform-events.ts). */
  readonly platformEvents?: InterpretOptions;
  /** Lets a sync run's summary name what held it up (src/audit/run-incidents.ts). */
  readonly runIncidents?: RunIncidentReader;
}

/** All activities the worker registers, built over injected clients, behind the failure boundary. */
export function createActivities(deps: ActivityDeps) {
  const roster = createRosterStore({ db: deps.db });
  const sync = createSyncStore(deps.db);
  const calls = createCallStore(deps.db);
  const outbox = createDiaryOutbox(deps.db);
  const syncActivities = createSyncActivities({
    logger: deps.logger,
    roster,
    settings: deps.settings,
    sync,
    messengers: deps.messengers,
    gateway: deps.gateway,
    ...(deps.runIncidents ? { runIncidents: deps.runIncidents } : {}),
  });
  const callActivities = createCallActivities({
    logger: deps.logger,
    roster,
    calls,
    sync,
    messengers: deps.messengers,
    diary: createDiaryRecorder({ outbox, calls, gateway: deps.gateway }),
  });
  const diaryActivities = createDiaryActivities({
    logger: deps.logger,
    outbox,
    diarySettings: deps.settings.diary,
    proxyOf: (schoolId) => deps.settings.proxy(schoolId),
    webhook: ({ hook, proxy }) =>
      createWebhookDelivery({ url: hook.url, secret: hook.secret, proxy }),
  });
  return withBoundary({
    ...syncActivities,
    ...callActivities,
    ...diaryActivities,
    ...createArchiveActivities({ db: deps.db }),
    ...createPlatformEventActivities({
      logger: deps.logger,
      eventsMode: async (schoolId) =>
        (await deps.settings.getPublic(schoolId)) ? deps.settings.events.mode(schoolId) : null,
      longPollFor: (schoolId) => deps.messengers.longPollFor(schoolId),
      interpret: (event) => interpretPlatformEvent(event, deps.platformEvents ?? {}),
      calls,
      sync,
      gateway: deps.gateway,
    }),
  });
}

export type Activities = ReturnType<typeof createActivities>;

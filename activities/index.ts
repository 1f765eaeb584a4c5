import type { Db } from 'mongodb';
import type { Logger } from '../src/logger';
import { createHelloActivities } from './hello';

export interface ActivityDeps {
  readonly db: Db;
  readonly logger: Logger;
}

/** All activities the worker registers, built over injected clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createHelloActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;

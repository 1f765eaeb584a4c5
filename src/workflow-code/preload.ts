import { Mutex } from 'async-mutex';
import { z } from 'zod';
import * as callPlan from '../domain/call-plan';
import * as templateCheck from '../domain/template-check';
import * as time from '../domain/time';

/**
 * Loaded once per workflow thread and shared by every workflow run (see `workflowBundlerOptions`):
 * libraries and pure domain code that keep no per-workflow state. The values are re-exported
 * rather than imported bare: packages that declare themselves free of side effects are dropped by
 * webpack when nothing uses what they export, and the preload would then load nothing.
 *
 * The SDK deep-freezes what it preloads. zod fills in its global defaults (English messages, the
 * memoizer) when the first schema is built, so a schema is built and run here, before the freeze;
 * afterwards zod only reads them. The time helpers' formatter cache is a Map, which freezing
 * leaves writable, and its formatters are pure.
 */
z.object({ id: z.string().min(1), kind: z.enum(['a']).optional() }).safeParse({ id: '' });

export const shared = { z, Mutex, callPlan, templateCheck, time };

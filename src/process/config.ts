import { z } from 'zod';
import { callEndSignalSchema } from '../contracts/platform-events';
import { issueLines } from '../contracts/zod-issues';

const port = z.coerce.number().int().min(1).max(65535);
const bool = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes');

/**
 * Every setting the processes read, from the environment, parsed once. Names are the variables
 * themselves so an error message points at exactly what to fix.
 */
const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  SFERUM_DEV: bool.optional(),
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_PORT: port.default(8233),
  MONGODB_URI: z
    .string()
    .regex(/^mongodb(\+srv)?:\/\//, 'must start with mongodb://')
    .optional(),
  MONGODB_DB: z.string().min(1).default('sferum'),
  /** Port of the MongoDB-compatible server `npm start` runs when MONGODB_URI is not set. */
  LOCAL_MONGO_PORT: port.default(27027),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(3000),
  API_PUBLIC_URL: z.url().optional(),
  VK_API_BASE: z.url().default('https://api.vk.ru'),
  VK_API_VERSION: z
    .string()
    .regex(/^5\.\d+$/, 'must look like 5.199')
    .default('5.199'),
  /** Kept under the platform's 20 requests/s per community token, so bursts never meet error 6. */
  VK_RATE_LIMIT_PER_SECOND: z.coerce.number().positive().max(1000).default(18),
  /**
   * `cluster` when several processes send for the same communities: the limit then holds across
   * them (request slots claimed in MongoDB, src/messenger/cluster-limiter.ts), at the price of
   * spacing a community's requests evenly; `process` lets one process send in bursts.
   */
  VK_RATE_LIMIT_SCOPE: z.enum(['process', 'cluster']).default('process'),
  /**
   * Which platform event means a call ended in Sferum: both readings are unconfirmed
   * (src/messenger/platform-events.ts), so a deployment trusts one or either.
   */
  VK_CALL_END_SIGNAL: callEndSignalSchema.default('either'),
  EMULATOR_PORT: port.default(8999),
  PORTAL_EMULATOR_PORT: port.default(8998),
  SECRETS_KEY: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 32 bytes as 64 hex characters')
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: port.default(9464),
  /**
   * A worker's heaps collect once they grow this many percent past what the last full collection
   * kept (src/process/heap.ts); 0 leaves V8's own rule, which sizes the step from the machine.
   */
  WORKER_HEAP_GROWING_PERCENT: z.coerce.number().int().min(0).max(1000).default(10),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Worker Versioning: the worker deployment a worker joins (src/process/deployment.ts); none if unset. */
  SFERUM_DEPLOYMENT_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only')
    .optional(),
  /** The worker's build ID in that deployment; default: package version + git commit. */
  SFERUM_BUILD_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.+-]+$/, 'letters, digits and . + - _ only')
    .optional(),
  SFERUM_TOOLS_DIR: z.string().min(1).optional(),
  SFERUM_DATA_DIR: z.string().min(1).optional(),
});

export type Config = z.infer<typeof envSchema> & { dev: boolean };

export class ConfigError extends Error {
  constructor(readonly issues: readonly string[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment, listing every bad variable by name. Values are never echoed: some are secrets. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(issueLines(parsed.error, '(environment)'));
  }
  const dev = parsed.data.SFERUM_DEV ?? parsed.data.NODE_ENV !== 'production';
  return { ...parsed.data, dev };
}

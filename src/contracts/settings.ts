import { z } from 'zod';
import { PROXY_TEXT_MAX_LENGTH, parseProxyText } from './proxy-text';
import { DEFAULT_SYNC_PERIOD } from './school-sync';
import { syncPeriodSchema } from './sync-records';

/**
 * School settings (S1–S3) as an admin submits them. The token and proxy password are secrets.
 * Unknown fields are refused: a misspelled `token` or `password` must not be dropped in silence.
 */
export const proxySettingsSchema = z
  .object({
    server: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    username: z.string().min(1).max(255).optional(),
    password: z.string().min(1).max(255).optional(),
    auth: z.boolean(),
  })
  .strict()
  .refine((p) => !p.auth || (p.username !== undefined && p.password !== undefined), {
    error: 'username and password are required when auth is on',
    path: ['auth'],
  });

const settingsFieldsSchema = z
  .object({
    communityId: z.number().int().positive(),
    token: z.string().min(16, 'a community token is at least 16 characters').max(512),
    proxy: proxySettingsSchema.nullable().optional(),
    /**
     * S2: the proxy as the manual's lines (`proxy_server=…`, `proxy_port=…`, `proxy_username=…`,
     * `proxy_password=…`, `proxy_auth=1|0`), instead of `proxy`; empty text means no proxy.
     */
    proxyText: z.string().max(PROXY_TEXT_MAX_LENGTH).optional(),
    period: syncPeriodSchema.default(DEFAULT_SYNC_PERIOD),
    enabled: z.boolean().default(true),
    /** Share of managed members one run may remove before the plan is held for approval. */
    removalThreshold: z.number().min(0).max(1).default(0.1),
    /** Remove people added to our chats by hand in the platform; off by default (they are only reported). */
    removeUnmanaged: z.boolean().default(false),
  })
  .strict();

/** The proxy text becomes the structured proxy here, so everything after sees one shape. */
export const schoolSettingsInputSchema = settingsFieldsSchema.transform(
  ({ proxy, proxyText, ...rest }, ctx) => {
    if (proxyText === undefined) return { ...rest, proxy: proxy ?? null };
    if (proxy !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['proxyText'],
        message: 'give proxy or proxyText, not both',
      });
      return z.NEVER;
    }
    const parsed = parseProxyText(proxyText);
    if (parsed.ok) return { ...rest, proxy: parsed.proxy };
    for (const issue of parsed.errors) {
      ctx.addIssue({
        code: 'custom',
        path: issue.key === null ? ['proxyText'] : ['proxyText', issue.key],
        message: issue.message,
      });
    }
    return z.NEVER;
  },
);

export type SchoolSettingsInput = z.input<typeof schoolSettingsInputSchema>;
export type SchoolSettings = z.infer<typeof schoolSettingsInputSchema>;

/** What the API and the workflows may see: no secrets, only whether they are set. */
export const publicSchoolSettingsSchema = z.object({
  schoolId: z.string(),
  communityId: z.number().int(),
  tokenSet: z.literal(true),
  proxy: z
    .object({
      server: z.string(),
      port: z.number().int(),
      username: z.string().optional(),
      passwordSet: z.boolean(),
      auth: z.boolean(),
    })
    .nullable(),
  period: syncPeriodSchema,
  enabled: z.boolean(),
  removalThreshold: z.number(),
  removeUnmanaged: z.boolean(),
  updatedAt: z.string(),
});
export type PublicSchoolSettings = z.infer<typeof publicSchoolSettingsSchema>;

/** How to reach one school's community; secrets arrive decrypted, only inside activities. */
export interface MessengerSettings {
  readonly communityId: number;
  readonly token: string;
  readonly baseUrl: string;
  readonly apiVersion: string;
  readonly rateLimitPerSecond: number;
  readonly proxy?: SchoolProxy;
}

/** A school's HTTP proxy (S2) with its password decrypted. */
export type SchoolProxy = Readonly<z.infer<typeof proxySettingsSchema>>;

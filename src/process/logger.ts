import pino, { type Logger } from 'pino';

/**
 * Structured JSON logs. Known secret-bearing keys are redacted wherever they appear, as a last
 * line of defence: secrets are not supposed to reach a logger in the first place.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'sferum-sync' },
    redact: {
      paths: [
        'token',
        '*.token',
        'access_token',
        '*.access_token',
        'password',
        '*.password',
        'proxy.password',
        'headers.authorization',
        'req.headers.authorization',
        'req.headers["x-admin-key"]',
        'req.headers["x-teacher-token"]',
      ],
      censor: '[redacted]',
    },
  });
}

export type { Logger };

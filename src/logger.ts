/** Kept until the last importers read the Logger type from pino. */
export type { Logger } from 'pino';

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';

/** A secret at rest: AES-256-GCM with a fresh 96-bit nonce per value. */
export const encryptedSecretSchema = z.object({
  alg: z.literal('A256GCM'),
  iv: z.string(),
  tag: z.string(),
  data: z.string(),
});
export type EncryptedSecret = z.infer<typeof encryptedSecretSchema>;

export interface SecretBox {
  encrypt(plain: string): EncryptedSecret;
  decrypt(secret: EncryptedSecret): string;
}

/**
 * Dev mode may run without SECRETS_KEY; then a fixed, publicly known key is used, which is why
 * the processes refuse to start that way outside dev mode (see `resolveSecretsKey`).
 */
export const DEV_SECRETS_KEY = 'de'.repeat(32);

export function resolveSecretsKey(config: {
  SECRETS_KEY?: string | undefined;
  dev: boolean;
}): string {
  if (config.SECRETS_KEY) return config.SECRETS_KEY;
  if (config.dev) return DEV_SECRETS_KEY;
  throw new Error(
    'SECRETS_KEY is required outside dev mode: 32 random bytes as 64 hex characters ' +
      '(e.g. `openssl rand -hex 32`). It encrypts community tokens and proxy passwords at rest.',
  );
}

export function createSecretBox(keyHex: string): SecretBox {
  const key = Buffer.from(keyHex, 'hex');
  if (key.length !== 32) throw new Error('the secrets key must be 32 bytes (64 hex characters)');
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return {
        alg: 'A256GCM',
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
    },
    decrypt(secret) {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(secret.iv, 'base64'));
      decipher.setAuthTag(Buffer.from(secret.tag, 'base64'));
      return Buffer.concat([
        decipher.update(Buffer.from(secret.data, 'base64')),
        decipher.final(),
      ]).toString('utf8');
    },
  };
}

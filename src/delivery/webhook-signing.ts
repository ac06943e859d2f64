/**
 * Standard Webhooks signing (https://www.standardwebhooks.com, spec v1): the native dialect's
 * scheme. The receiver recomputes HMAC-SHA256 over `${id}.${timestamp}.${body}` with the shared
 * secret; the id lets it drop duplicates (a retry or redelivery reuses it) and the timestamp lets
 * it refuse replays of old messages.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { invalidArgument, PixeliftError } from '../errors.js';

const SECRET_PREFIX = 'whsec_';

export type StandardWebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/**
 * A new signing secret: `whsec_` + base64 of 24 random bytes. The spec asks for 24 to 64 bytes;
 * 24 (192 bits) is what its reference libraries generate.
 */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(24).toString('base64')}`;
}

/** The HMAC key a secret stands for: the base64 after `whsec_` (the prefix is optional, as in the reference libraries). */
export function webhookSecretKey(secret: string): Buffer {
  const encoded =
    typeof secret === 'string' && secret.startsWith(SECRET_PREFIX)
      ? secret.slice(SECRET_PREFIX.length)
      : secret;
  if (typeof encoded !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) {
    // Not invalidArgument: its message repeats the value, and this one is a secret.
    throw new PixeliftError('invalid_argument', {
      param: 'secret',
      message: `Expected whsec_ followed by base64 for secret but received a ${typeof secret} that is not`,
    });
  }
  return Buffer.from(encoded, 'base64');
}

export function signStandardWebhook(message: {
  secret: string;
  /** Unique per message, the same on every retry and redelivery of it. */
  id: string;
  /** Unix time, seconds. */
  timestamp: number;
  /** The exact bytes sent; a receiver verifies the raw body, not a re-serialisation of it. */
  body: string;
}): StandardWebhookHeaders {
  const { secret, id, timestamp, body } = message;
  if (typeof id !== 'string' || id === '') throw invalidArgument('id', 'non-empty string', id);
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw invalidArgument('timestamp', 'non-negative integer of seconds', timestamp);
  }
  if (typeof body !== 'string') throw invalidArgument('body', 'string', body);
  const signature = createHmac('sha256', webhookSecretKey(secret))
    .update(`${id}.${timestamp}.${body}`, 'utf8')
    .digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

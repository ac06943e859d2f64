/**
 * Links to result files that need no API key: `GET /v1/files/:id?expires=…&signature=…`, where
 * the signature is an HMAC of the file id and the expiry. Anyone holding the link may download
 * the file until it expires; nobody can make a link for another file or a later expiry.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { invalidArgument, PixeliftError } from '../errors.js';

export interface SignFileUrlOptions {
  secret: string;
  /** The server's public origin (and path prefix, if any); a trailing `/` is dropped. */
  baseUrl: string;
  fileId: string;
  expiresAt: Date;
}

export function signFileUrl(options: SignFileUrlOptions): string {
  const { secret, baseUrl, fileId, expiresAt } = options;
  checkSecret(secret);
  if (typeof fileId !== 'string' || fileId === '')
    throw invalidArgument('fileId', 'non-empty string', fileId);
  if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
    throw invalidArgument('expiresAt', 'valid Date', expiresAt);
  }
  // Whole seconds, rounded down: the link never outlives the expiry it was asked for.
  const expires = Math.floor(expiresAt.getTime() / 1000);
  const signature = hmac(secret, fileId, String(expires));
  return `${baseUrl.replace(/\/+$/, '')}/v1/files/${encodeURIComponent(fileId)}?expires=${expires}&signature=${signature}`;
}

export interface VerifyFileSignatureOptions {
  secret: string;
  fileId: string;
  /** The `expires` query parameter as received: unix seconds. */
  expires: string | number | undefined;
  /** The `signature` query parameter as received. */
  signature: string | undefined;
  now: Date;
}

/** True when the signature is this file's and `expires` is still ahead of `now`. */
export function verifyFileSignature(options: VerifyFileSignatureOptions): boolean {
  const { secret, fileId, expires, signature, now } = options;
  checkSecret(secret);
  const text = typeof expires === 'number' ? String(expires) : expires;
  if (typeof fileId !== 'string' || fileId === '' || typeof signature !== 'string') return false;
  // At most 15 digits: every such number is exact as a double, and far beyond any real expiry.
  if (text === undefined || !/^\d{1,15}$/.test(text)) return false;
  if (Number(text) * 1000 <= now.getTime()) return false;
  const expected = Buffer.from(hmac(secret, fileId, text));
  const given = Buffer.from(signature);
  // timingSafeEqual throws on a length mismatch; the length of a valid signature is no secret.
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * `fileId.expires`: expires is all digits, so the last `.` separates the two and no (id, expiry)
 * pair can be made to sign the same text as another.
 */
function hmac(secret: string, fileId: string, expires: string): string {
  return createHmac('sha256', secret).update(`${fileId}.${expires}`, 'utf8').digest('base64url');
}

function checkSecret(secret: string): void {
  if (typeof secret !== 'string' || secret.length < 16) {
    // Not invalidArgument: its message repeats the value received, and this one is a secret.
    throw new PixeliftError('invalid_argument', {
      param: 'secret',
      message: `Expected a string of at least 16 characters for secret but received a shorter ${typeof secret}`,
    });
  }
}

/** The kinds of error every dialect tells apart in its own vocabulary, and the field an error is about. */
import { isPixeliftError, type PixeliftError } from '../../errors.js';

/** Errors worth telling apart in every dialect's own vocabulary. */
export function kindOf(
  err: PixeliftError,
): 'auth' | 'credits' | 'rate' | 'unavailable' | 'not_found' | 'validation' | 'conflict' | 'internal' {
  if (err.code === 'unauthorized') return 'auth';
  if (err.code === 'insufficient_credits') return 'credits';
  if (err.code === 'rate_limited' || err.code === 'key_queue_full') return 'rate';
  if (err.status === 503) return 'unavailable';
  if (err.status === 404 && err.code !== 'model_not_found') return 'not_found';
  if (err.status === 409) return 'conflict';
  if (err.status >= 500 && err.code !== 'url_fetch_failed' && err.code !== 'url_timeout') return 'internal';
  return 'validation';
}

/** The field an error is about, in the dialect's spelling (`param` maps native names to theirs). */
export function paramOf(
  err: PixeliftError,
  fields: Readonly<Record<string, string>> = {},
): string | undefined {
  const p = err.details.param;
  if (typeof p !== 'string') return undefined;
  return fields[p] ?? p;
}

export function isValidation(err: unknown): boolean {
  return isPixeliftError(err, 'invalid_argument');
}

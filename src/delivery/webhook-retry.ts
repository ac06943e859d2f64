/**
 * When a webhook attempt counts as delivered, when it is worth trying again, and how long to
 * wait: pure functions, so the policy reads in one place and is tested without a network.
 */
import { isPixeliftError } from '../errors.js';

export type AttemptOutcome =
  | { readonly kind: 'delivered' }
  /** Worth another attempt (if any are left): the receiver or the network may recover. */
  | { readonly kind: 'retry'; readonly error: string }
  /** Sending the same message again cannot succeed. */
  | { readonly kind: 'final'; readonly error: string };

/** The shortest wait between attempts, ms, whatever the jitter draws. */
export const MIN_RETRY_DELAY_MS = 100;

/** Bytes of a non-2xx answer's body kept in the attempt's error. */
export const EXCERPT_BYTES = 200;

/**
 * 2xx delivers. 408 and 429 say "later", and 5xx is the receiver's own trouble: retried. Any other
 * 4xx says the message itself is refused (gone endpoint, bad signature): not retried. A 3xx is
 * final too: redirects are not followed for a POST, so the same request would get the same answer.
 */
export function outcomeOfStatus(status: number, body?: Buffer): AttemptOutcome {
  if (status >= 200 && status <= 299) return { kind: 'delivered' };
  const redirect = status >= 300 && status <= 399 ? ' (redirects are not followed)' : '';
  const error = `the receiver answered HTTP ${status}${redirect}${excerpt(body)}`;
  const retry = status === 408 || status === 429 || status >= 500;
  return { kind: retry ? 'retry' : 'final', error };
}

/**
 * A URL that is malformed or names a forbidden address is refused the same way on every attempt;
 * timeouts and connection failures may pass. Anything unexpected is retried rather than
 * dropping a message over what may be a passing fault.
 */
export function outcomeOfError(err: unknown): AttemptOutcome {
  const error = err instanceof Error ? err.message : String(err);
  if (isPixeliftError(err, 'url_forbidden') || isPixeliftError(err, 'url_invalid')) {
    return { kind: 'final', error };
  }
  return { kind: 'retry', error };
}

/**
 * Exponential backoff with full jitter (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/):
 * a uniform draw below min(maxDelayMs, baseDelayMs·2^(attempt−1)), so that receivers coming back
 * after an outage are not hit by every queued message at the same instant.
 */
export function backoffDelay(
  attempt: number,
  policy: { readonly baseDelayMs: number; readonly maxDelayMs: number; readonly random: () => number },
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.max(MIN_RETRY_DELAY_MS, Math.round(policy.random() * ceiling));
}

/** The start of a refusal's body, on one line: receivers often say why there ("invalid signature"). */
function excerpt(body: Buffer | undefined): string {
  const text = body?.subarray(0, EXCERPT_BYTES).toString('utf8').replace(/\s+/g, ' ').trim() ?? '';
  return text === '' ? '' : `: ${text}`;
}

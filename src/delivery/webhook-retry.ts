/**
 * When a webhook attempt counts as delivered, when it is worth trying again, and how long to
 * wait: pure functions, so the policy reads in one place and is tested without a network.
 */
import { isPixeliftError } from '../errors.js';

export type AttemptOutcome =
  | { readonly kind: 'delivered' }
  /**
   * Worth another attempt (if any are left): the receiver or the network may recover.
   * `retryAfterMs`: the receiver's own Retry-After on a 429 or 503.
   */
  | { readonly kind: 'retry'; readonly error: string; readonly retryAfterMs?: number }
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
export function outcomeOfStatus(status: number, body?: Buffer, retryAfter?: number): AttemptOutcome {
  if (status >= 200 && status <= 299) return { kind: 'delivered' };
  const redirect = status >= 300 && status <= 399 ? ' (redirects are not followed)' : '';
  const error = `the receiver answered HTTP ${status}${redirect}${excerpt(body)}`;
  const retry = status === 408 || status === 429 || status >= 500;
  if (!retry) return { kind: 'final', error };
  // Retry-After is what 429 and 503 are defined to carry (RFC 9110 §15.6.4, RFC 6585 §4).
  return retryAfter !== undefined && (status === 429 || status === 503)
    ? { kind: 'retry', error, retryAfterMs: retryAfter }
    : { kind: 'retry', error };
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
 * The retry schedule of Standard Webhooks and Svix: after the first attempt, wait 5 s, 5 min,
 * 30 min, 2 h, 5 h, 10 h and 10 h (8 attempts, about 28 h in all), so that a receiver down for
 * minutes or hours still gets every message. Delays in ms, before attempts 2..8.
 * https://docs.svix.com/retries
 */
export const STANDARD_WEBHOOK_SCHEDULE_MS: readonly number[] = [
  5_000,
  5 * 60_000,
  30 * 60_000,
  2 * 3_600_000,
  5 * 3_600_000,
  10 * 3_600_000,
  10 * 3_600_000,
];

/** Jitter spreads each delay over ±10 %, so receivers coming back are not hit by every message at once. */
const JITTER = 0.1;

/**
 * The wait after the `failures`-th failed attempt: the schedule's entry (its last one past its
 * end), jittered unless `jitter` is false (a provider that documents exact delays).
 */
export function scheduledDelay(
  failures: number,
  schedule: readonly number[],
  random: () => number,
  jitter = true,
): number {
  const base = schedule[Math.min(failures, schedule.length) - 1] ?? MIN_RETRY_DELAY_MS;
  const delay = jitter ? base * (1 - JITTER + 2 * JITTER * random()) : base;
  return Math.max(MIN_RETRY_DELAY_MS, Math.round(delay));
}

/**
 * `Retry-After` (RFC 9110 §10.2.3) as ms from `now`: delay-seconds or an HTTP-date; undefined
 * when absent or unreadable. A date in the past is 0.
 */
export function retryAfterMs(value: string | readonly string[] | undefined, now: Date): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now.getTime());
}

/** The start of a refusal's body, on one line: receivers often say why there ("invalid signature"). */
function excerpt(body: Buffer | undefined): string {
  const text = body?.subarray(0, EXCERPT_BYTES).toString('utf8').replace(/\s+/g, ' ').trim() ?? '';
  return text === '' ? '' : `: ${text}`;
}

/**
 * Time bounds for outbound requests: one signal per request that aborts with url_timeout when
 * the whole exchange (resolution, redirects, body) runs past its limit, or with `canceled` when
 * the caller's signal fires.
 */
import { invalidArgument, PixeliftError } from '../errors.js';

export interface Deadline {
  readonly signal: AbortSignal;
  /** Stop the timer and detach from the caller's signal; call once the request has settled. */
  clear(): void;
}

export function checkTimeout(timeoutMs: unknown): void {
  // setTimeout fires at once for delays above 2^31 - 1 ms, which would turn a long limit into none.
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isFinite(timeoutMs) ||
    timeoutMs <= 0 ||
    timeoutMs > 2 ** 31 - 1
  ) {
    throw invalidArgument('timeoutMs', 'number of ms in (0, 2147483647]', timeoutMs);
  }
}

/**
 * One signal for the whole request, so that a slow-drip server or a long redirect chain cannot
 * hold a worker past `timeoutMs`.
 */
export function startDeadline(url: string, timeoutMs: number, signal: AbortSignal | undefined): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new PixeliftError('url_timeout', { url, timeoutMs })),
    timeoutMs,
  );
  const onCancel = () => controller.abort(new PixeliftError('canceled', {}, { cause: signal?.reason }));
  if (signal?.aborted) onCancel();
  else signal?.addEventListener('abort', onCancel, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    },
  };
}

/** `promise`, or the signal's reason as soon as it aborts (dns.lookup cannot be canceled). */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

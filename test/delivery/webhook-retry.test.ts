import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MIN_RETRY_DELAY_MS,
  outcomeOfError,
  outcomeOfStatus,
  retryAfterMs,
  STANDARD_WEBHOOK_SCHEDULE_MS,
  scheduledDelay,
} from '../../src/delivery/webhook-retry.js';
import { PixeliftError } from '../../src/errors.js';

test('2xx is delivered', () => {
  for (const status of [200, 201, 202, 204, 299])
    assert.deepEqual(outcomeOfStatus(status), { kind: 'delivered' });
});

test('5xx, 408 and 429 are retried', () => {
  for (const status of [500, 502, 503, 504, 408, 429]) assert.equal(outcomeOfStatus(status).kind, 'retry');
});

test('other 4xx and 3xx are final: the same message would be refused again', () => {
  for (const status of [400, 401, 403, 404, 410, 413, 422, 301, 302, 307]) {
    assert.equal(outcomeOfStatus(status).kind, 'final', `HTTP ${status}`);
  }
  const redirect = outcomeOfStatus(302);
  assert.ok(redirect.kind === 'final' && /redirects are not followed/.test(redirect.error));
});

test('a refusal’s error carries the status and the start of the body on one line', () => {
  const outcome = outcomeOfStatus(401, Buffer.from('invalid\n  signature'));
  assert.deepEqual(outcome, { kind: 'final', error: 'the receiver answered HTTP 401: invalid signature' });
  assert.deepEqual(outcomeOfStatus(500, Buffer.alloc(0)), {
    kind: 'retry',
    error: 'the receiver answered HTTP 500',
  });
});

test('a forbidden or invalid URL is final; timeouts, connection failures and the unexpected are retried', () => {
  const url = 'http://127.0.0.1/';
  const forbidden = new PixeliftError('url_forbidden', { url, address: '127.0.0.1', reason: 'loopback' });
  assert.equal(outcomeOfError(forbidden).kind, 'final');
  assert.equal(outcomeOfError(new PixeliftError('url_invalid', { url, reason: 'bad' })).kind, 'final');
  assert.equal(outcomeOfError(new PixeliftError('url_timeout', { url, timeoutMs: 1 })).kind, 'retry');
  assert.equal(
    outcomeOfError(new PixeliftError('url_fetch_failed', { url, reason: 'ECONNRESET' })).kind,
    'retry',
  );
  const unexpected = outcomeOfError(new Error('boom'));
  assert.deepEqual(unexpected, { kind: 'retry', error: 'boom' });
});

test('the default schedule is Standard Webhooks’: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the first attempt', () => {
  const min = 60_000;
  const h = 60 * min;
  assert.deepEqual(STANDARD_WEBHOOK_SCHEDULE_MS, [5000, 5 * min, 30 * min, 2 * h, 5 * h, 10 * h, 10 * h]);
  const exact = (failures: number) => scheduledDelay(failures, STANDARD_WEBHOOK_SCHEDULE_MS, () => 0.5);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map(exact), [...STANDARD_WEBHOOK_SCHEDULE_MS, 10 * h]);
});

test('jitter spreads a delay over ±10 %; a documented schedule (jitter off) is exact; never under the minimum', () => {
  assert.equal(
    scheduledDelay(1, [1000], () => 0),
    900,
  );
  assert.equal(
    scheduledDelay(1, [1000], () => 0.999999),
    1100,
  );
  assert.equal(
    scheduledDelay(2, [1000, 2000], () => 0, false),
    2000,
  );
  assert.equal(MIN_RETRY_DELAY_MS, 100);
  assert.equal(
    scheduledDelay(1, [1], () => 0.5),
    100,
  );
});

test('Retry-After is read as seconds or an HTTP date, and carried by 429 and 503 only', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  assert.equal(retryAfterMs('120', now), 120_000);
  assert.equal(retryAfterMs('Tue, 01 Jan 2030 00:10:00 GMT', now), 600_000);
  assert.equal(retryAfterMs('Mon, 31 Dec 2029 00:00:00 GMT', now), 0);
  assert.equal(retryAfterMs('soon', now), undefined);
  assert.equal(retryAfterMs(undefined, now), undefined);
  assert.deepEqual(outcomeOfStatus(429, undefined, 120_000), {
    kind: 'retry',
    error: 'the receiver answered HTTP 429',
    retryAfterMs: 120_000,
  });
  assert.equal((outcomeOfStatus(503, undefined, 5000) as { retryAfterMs?: number }).retryAfterMs, 5000);
  assert.equal((outcomeOfStatus(500, undefined, 5000) as { retryAfterMs?: number }).retryAfterMs, undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backoffDelay,
  MIN_RETRY_DELAY_MS,
  outcomeOfError,
  outcomeOfStatus,
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

test('backoff draws uniformly below a ceiling that doubles per attempt up to maxDelayMs', () => {
  const policy = { baseDelayMs: 1000, maxDelayMs: 10_000 };
  const top = (attempt: number) => backoffDelay(attempt, { ...policy, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5, 6].map(top), [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(backoffDelay(3, { ...policy, random: () => 0.5 }), 2000);
});

test('backoff never waits less than the minimum, whatever the draw', () => {
  assert.equal(MIN_RETRY_DELAY_MS, 100);
  assert.equal(backoffDelay(1, { baseDelayMs: 1000, maxDelayMs: 10_000, random: () => 0 }), 100);
  assert.equal(backoffDelay(1, { baseDelayMs: 10, maxDelayMs: 10_000, random: () => 0.99 }), 100);
});

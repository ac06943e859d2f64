/**
 * Signing checked against the independent verifier published by the Standard Webhooks project
 * (the `standardwebhooks` npm package), not against a re-derivation of our own code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { generateWebhookSecret, signStandardWebhook } from '../../src/delivery/webhook-signing.js';
import { isPixeliftError } from '../../src/errors.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const body = JSON.stringify({
  type: 'job.completed',
  timestamp: '2030-01-01T00:00:00.000Z',
  data: { id: 'job_1' },
});

test('generateWebhookSecret returns whsec_ and the base64 of 24 random bytes, different each time', () => {
  const a = generateWebhookSecret();
  const b = generateWebhookSecret();
  assert.match(a, /^whsec_[A-Za-z0-9+/]{32}$/);
  assert.equal(Buffer.from(a.slice('whsec_'.length), 'base64').length, 24);
  assert.notEqual(a, b);
});

test('a signed message verifies with the standardwebhooks library and yields the payload', () => {
  const secret = generateWebhookSecret();
  const headers = signStandardWebhook({ secret, id: 'msg_2Lh9', timestamp: nowSeconds(), body });
  assert.equal(headers['webhook-id'], 'msg_2Lh9');
  assert.match(headers['webhook-timestamp'], /^\d+$/);
  assert.match(headers['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body));
});

test('the signature matches the one the standardwebhooks library computes for the same message', () => {
  const secret = generateWebhookSecret();
  const timestamp = nowSeconds();
  const ours = signStandardWebhook({ secret, id: 'msg_1', timestamp, body });
  const theirs = new Webhook(secret).sign('msg_1', new Date(timestamp * 1000), body);
  assert.equal(ours['webhook-signature'], theirs);
});

test('non-ASCII bodies are signed as UTF-8 and verify', () => {
  const secret = generateWebhookSecret();
  const unicode = JSON.stringify({ data: { name: 'Café 🐈 — 猫' } });
  const headers = signStandardWebhook({ secret, id: 'msg_u', timestamp: nowSeconds(), body: unicode });
  assert.deepEqual(new Webhook(secret).verify(unicode, headers), JSON.parse(unicode));
});

test('EXPECTED FAILURE - a tampered body, id or timestamp, or another secret, fails verification', () => {
  const secret = generateWebhookSecret();
  const timestamp = nowSeconds();
  const headers = signStandardWebhook({ secret, id: 'msg_1', timestamp, body });
  const verifier = new Webhook(secret);
  assert.throws(() => verifier.verify(body.replace('job_1', 'job_2'), headers), /signature/i);
  assert.throws(() => verifier.verify(`${body} `, headers), /signature/i);
  assert.throws(() => verifier.verify(body, { ...headers, 'webhook-id': 'msg_2' }), /signature/i);
  assert.throws(
    () => verifier.verify(body, { ...headers, 'webhook-timestamp': String(timestamp + 1) }),
    /signature/i,
  );
  assert.throws(() => new Webhook(generateWebhookSecret()).verify(body, headers), /signature/i);
});

test('EXPECTED FAILURE - a message signed with an old timestamp is refused as a replay by receivers', () => {
  const secret = generateWebhookSecret();
  const headers = signStandardWebhook({ secret, id: 'msg_1', timestamp: nowSeconds() - 3600, body });
  assert.throws(() => new Webhook(secret).verify(body, headers), /timestamp/i);
});

test('BAD CALL - a malformed secret is refused without echoing it; id and timestamp are validated', () => {
  for (const secret of ['whsec_', 'whsec_not base64!', 'whsec_abc']) {
    assert.throws(
      () => signStandardWebhook({ secret, id: 'm', timestamp: 1, body }),
      (err: unknown) =>
        isPixeliftError(err, 'invalid_argument') &&
        err.details.param === 'secret' &&
        (secret === 'whsec_' || !err.message.includes(secret.slice('whsec_'.length))),
    );
  }
  const secret = generateWebhookSecret();
  for (const [param, message] of [
    ['id', { secret, id: '', timestamp: 1, body }],
    ['timestamp', { secret, id: 'm', timestamp: 1.5, body }],
    ['timestamp', { secret, id: 'm', timestamp: Date.now() / 1000, body }],
  ] as const) {
    assert.throws(
      () => signStandardWebhook(message),
      (err: unknown) => isPixeliftError(err, 'invalid_argument') && err.details.param === param,
    );
  }
});

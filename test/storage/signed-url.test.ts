import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { isPixeliftError } from '../../src/errors.js';
import { signFileUrl, verifyFileSignature } from '../../src/storage/signed-url.js';

const secret = 'a-test-secret-of-enough-length';
const expiresAt = new Date('2030-01-02T03:04:05.678Z');
const expires = Math.floor(expiresAt.getTime() / 1000);
const before = new Date(expiresAt.getTime() - 60_000);

function signed(fileId = 'file_abc') {
  const url = new URL(signFileUrl({ secret, baseUrl: 'https://px.example.test/', fileId, expiresAt }));
  return {
    url,
    expires: url.searchParams.get('expires') ?? undefined,
    signature: url.searchParams.get('signature') ?? undefined,
  };
}

test('signFileUrl builds /v1/files/:id with expiry in whole unix seconds and a base64url signature', () => {
  const { url, expires: shown, signature } = signed();
  assert.equal(url.origin, 'https://px.example.test');
  assert.equal(url.pathname, '/v1/files/file_abc');
  assert.equal(shown, String(expires));
  assert.match(signature ?? '', /^[A-Za-z0-9_-]{43}$/);
  // The documented format, so that another component (a CDN edge, a second server) can check links.
  const expected = createHmac('sha256', secret).update(`file_abc.${expires}`).digest('base64url');
  assert.equal(signature, expected);
});

test('a signed link verifies for its file until it expires', () => {
  const { expires: e, signature } = signed();
  assert.equal(verifyFileSignature({ secret, fileId: 'file_abc', expires: e, signature, now: before }), true);
  assert.equal(verifyFileSignature({ secret, fileId: 'file_abc', expires, signature, now: before }), true);
  const lastMoment = new Date(expires * 1000 - 1);
  assert.equal(
    verifyFileSignature({ secret, fileId: 'file_abc', expires: e, signature, now: lastMoment }),
    true,
  );
});

test('EXPECTED FAILURE - an expired link does not verify', () => {
  const { expires: e, signature } = signed();
  for (const now of [new Date(expires * 1000), new Date(expires * 1000 + 1), new Date('2031-01-01')]) {
    assert.equal(verifyFileSignature({ secret, fileId: 'file_abc', expires: e, signature, now }), false);
  }
});

test('EXPECTED FAILURE - a tampered signature does not verify', () => {
  const { expires: e, signature = '' } = signed();
  const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
  for (const bad of [
    flipped,
    signature.slice(0, -1),
    `${signature}A`,
    '',
    signature.toUpperCase(),
    undefined,
  ]) {
    assert.equal(
      verifyFileSignature({ secret, fileId: 'file_abc', expires: e, signature: bad, now: before }),
      false,
    );
  }
});

test('EXPECTED FAILURE - a signature does not verify for another file id, a later expiry or another secret', () => {
  const { expires: e, signature } = signed();
  assert.equal(
    verifyFileSignature({ secret, fileId: 'file_abd', expires: e, signature, now: before }),
    false,
  );
  assert.equal(
    verifyFileSignature({ secret, fileId: 'file_abc', expires: expires + 3600, signature, now: before }),
    false,
  );
  assert.equal(
    verifyFileSignature({ secret: `${secret}!`, fileId: 'file_abc', expires: e, signature, now: before }),
    false,
  );
});

test('EXPECTED FAILURE - an expires that is not plain unix seconds does not verify', () => {
  const { signature } = signed();
  for (const bad of [
    undefined,
    '',
    '-1',
    '1e12',
    ` ${expires}`,
    `${expires}.0`,
    '0x70000000',
    '9999999999999999',
  ]) {
    assert.equal(
      verifyFileSignature({ secret, fileId: 'file_abc', expires: bad, signature, now: before }),
      false,
    );
  }
});

test('file ids are percent-encoded in the path and verify as the raw id', () => {
  const { url, expires: e, signature } = signed('a b/c');
  assert.equal(url.pathname, '/v1/files/a%20b%2Fc');
  assert.equal(verifyFileSignature({ secret, fileId: 'a b/c', expires: e, signature, now: before }), true);
});

test('BAD CALL - a short secret, an empty file id and an invalid date are refused without echoing the secret', () => {
  const base = { secret, baseUrl: 'https://px.example.test', fileId: 'f', expiresAt };
  for (const [param, options] of [
    ['secret', { ...base, secret: 'short-secret' }],
    ['fileId', { ...base, fileId: '' }],
    ['expiresAt', { ...base, expiresAt: new Date(Number.NaN) }],
  ] as const) {
    assert.throws(
      () => signFileUrl(options),
      (err: unknown) => isPixeliftError(err, 'invalid_argument') && err.details.param === param,
    );
  }
  assert.throws(
    () => verifyFileSignature({ secret: 'short-secret', fileId: 'f', expires, signature: 'x', now: before }),
    (err: unknown) => isPixeliftError(err, 'invalid_argument') && !err.message.includes('short-secret'),
  );
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ERRORS, invalidArgument, isPixeliftError, PixeliftError } from '../src/errors.js';
import { repoPath } from './helpers/paths.js';

test('every error code is documented in docs/errors.md with its HTTP status', () => {
  const doc = fs.readFileSync(repoPath('docs/errors.md'), 'utf8');
  for (const [code, spec] of Object.entries(ERRORS)) {
    const row = doc.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    assert.ok(row, `docs/errors.md has no row for ${code}`);
    assert.match(row, new RegExp(`\\| ${spec.status} \\|`), `row for ${code} states status ${spec.status}`);
  }
});

test('docs/errors.md lists no code the registry lacks', () => {
  const doc = fs.readFileSync(repoPath('docs/errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ERRORS).sort());
});

test('an error fills its message template from details and carries status and retryable', () => {
  const err = new PixeliftError('model_not_found', { model: 'nope' });
  assert.equal(err.message, 'Unknown model "nope"');
  assert.equal(err.status, 404);
  assert.equal(err.retryable, false);
  assert.ok(isPixeliftError(err, 'model_not_found'));
  assert.equal(isPixeliftError(err, 'internal'), false);
  assert.deepEqual(err.toJSON(), {
    code: 'model_not_found',
    message: 'Unknown model "nope"',
    details: { model: 'nope' },
  });
});

test('BAD CALL - argument errors name the parameter, the expectation and the received value', () => {
  const err = invalidArgument('tile', 'positive integer', 1.5);
  assert.equal(err.code, 'invalid_argument');
  assert.equal(err.message, 'Expected positive integer for tile but received 1.5 of type number');
  assert.equal(err.details.param, 'tile');
});

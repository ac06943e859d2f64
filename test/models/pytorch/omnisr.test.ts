/**
 * OmniSR against PyTorch: tiny random-weight models (scripts/pytorch-fixtures/omnisr.py) with
 * windows 4 and 8, with and without relative-position tables and conv biases, one or two
 * groups, ×2 and ×3; inputs large enough for ESA's strided conv and 7×7 max-pool.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { omnisr } from '../../../src/models/pytorch/arch/omnisr.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

verifyAgainstPyTorch('omnisr.json', omnisr);

test('does not claim the other architectures’ fixtures', () => {
  for (const m of ['swinir.json', 'hat.json', 'dat.json', 'plksr.json']) {
    for (const c of referenceCases(m)) assert.equal(omnisr.detect(loadStateDict(c)), undefined, c.name);
  }
});

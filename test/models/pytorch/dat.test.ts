/**
 * DAT against PyTorch: tiny random-weight models (scripts/pytorch-fixtures/dat.py) with 2×4 and
 * 4×8 rectangle windows, shifted and unshifted spatial blocks, channel blocks, non-trivial
 * BatchNorm statistics, '1conv'/'3conv', pixelshuffle ×2 and pixelshuffledirect ×3.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dat, isShifted } from '../../../src/models/pytorch/arch/dat.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

verifyAgainstPyTorch('dat.json', dat);

test('does not claim SwinIR or HAT state dicts', () => {
  for (const c of [...referenceCases('swinir.json'), ...referenceCases('hat.json')]) {
    assert.equal(dat.detect(loadStateDict(c)), undefined, c.name);
  }
});

test('shifts the windows of spatial blocks 2, 6, 10… in even groups and 0, 4, 8… in odd ones', () => {
  const shifted = (group: number) => [0, 2, 4, 6, 8].filter((b) => isShifted(group, b));
  assert.deepEqual(shifted(0), [2, 6]);
  assert.deepEqual(shifted(1), [0, 4, 8]);
});

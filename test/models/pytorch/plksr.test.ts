/**
 * PLKSR and RealPLKSR against PyTorch: tiny random-weight models (scripts/pytorch-fixtures/plksr.py)
 * with CCM/ICCM/DCCM mixers, PLK and rectangular sparse kernels, with and without element-wise
 * attention, GroupNorm and channels-first LayerNorm, PixelShuffle or DySample (×2 with 4 groups,
 * ×3 with 3), ×2/×3/×4.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plksr, realplksr } from '../../../src/models/pytorch/arch/plksr.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

const cases = referenceCases('plksr.json');
verifyAgainstPyTorch('plksr.json', plksr, (c) => c.arch === 'plksr');
verifyAgainstPyTorch('plksr.json', realplksr, (c) => c.arch === 'realplksr');

test('PLKSR and RealPLKSR do not claim each other’s state dicts (the mixer key differs: channe_mixer vs channel_mixer)', () => {
  for (const c of cases) {
    const other = c.arch === 'plksr' ? realplksr : plksr;
    assert.equal(other.detect(loadStateDict(c)), undefined, c.name);
  }
});

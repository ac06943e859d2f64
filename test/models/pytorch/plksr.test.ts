/**
 * PLKSR and RealPLKSR against PyTorch: tiny random-weight models (scripts/pytorch-fixtures/plksr.py)
 * with CCM/ICCM/DCCM mixers, PLK and rectangular sparse kernels, with and without element-wise
 * attention, GroupNorm and channels-first LayerNorm, ×2/×3/×4.
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

test('refuses RealPLKSR with a DySample upsampler, which it cannot build', () => {
  const c = cases.find((x) => x.arch === 'realplksr')!;
  const sd = new Map(loadStateDict(c));
  assert.ok(realplksr.detect(sd));
  sd.set('to_img.init_pos', { shape: [1, 2, 1, 1], data: new Float32Array(2) });
  assert.equal(realplksr.detect(sd), undefined);
});

/**
 * Real-CUGAN against PyTorch: UpCunet2x, 3x (pro) and 4x (scripts/pytorch-fixtures/realcugan.py)
 * with the real kernels, strides, crops and reflect borders and every width divided by 8; the
 * inputs' sides are odd or not multiples of 4, so the extra padding and final crop run.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { realcugan } from '../../../src/models/pytorch/arch/realcugan.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

verifyAgainstPyTorch('realcugan.json', realcugan);

test('leaves the pixel-unshuffled "fast" ×2 variant (conv_final with 4·out input channels) unrecognised', () => {
  const c = referenceCases('realcugan.json').find((x) => x.scale === 4)!;
  const sd = new Map(loadStateDict(c));
  assert.ok(realcugan.detect(sd));
  const w = sd.get('unet1.conv1.conv.0.weight')!;
  sd.set('unet1.conv1.conv.0.weight', {
    shape: [w.shape[0]!, 12, 3, 3],
    data: new Float32Array(w.shape[0]! * 12 * 9),
  });
  assert.equal(realcugan.detect(sd), undefined);
});

test('does not claim the other architectures’ fixtures', () => {
  for (const m of ['swinir.json', 'hat.json', 'dat.json', 'plksr.json', 'omnisr.json']) {
    for (const c of referenceCases(m)) assert.equal(realcugan.detect(loadStateDict(c)), undefined, c.name);
  }
});

/**
 * SwinIR against PyTorch: tiny random-weight models of every upsampler and residual variant
 * (scripts/pytorch-fixtures/swinir.py; windows 4, 5, 7 and 8; RGB and grayscale; 0–1 and 0–255
 * ranges), inputs whose sides are not window multiples, outputs computed by PyTorch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import { swinir } from '../../../src/models/pytorch/arch/swinir.js';
import { loadStateDict, referenceCases, verifyAgainstPyTorch } from './reference.js';

verifyAgainstPyTorch('swinir.json', swinir);

const zeros = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });

test('does not claim foreign state dicts: an empty one, an ESRGAN-like one, HAT, or an upsampler whose shape fits no scale', () => {
  assert.equal(swinir.detect(new Map()), undefined);
  assert.equal(
    swinir.detect(
      new Map([
        ['conv_first.weight', zeros([64, 3, 3, 3])],
        ['RRDB_trunk.0.RDB1.conv1.weight', zeros([32, 64, 3, 3])],
      ]),
    ),
    undefined,
  );
  const [hatCase] = referenceCases('hat.json');
  assert.equal(swinir.detect(loadStateDict(hatCase!)), undefined);
  const [c] = referenceCases('swinir.json');
  const sd = new Map(loadStateDict(c!));
  sd.set('upsample.0.weight', zeros([50, 16, 3, 3]));
  assert.equal(swinir.detect(sd), undefined);
});

test('leaves SwinIR variants it cannot run to the unknown-architecture path: absolute position embeddings', () => {
  const [c] = referenceCases('swinir.json');
  const sd = new Map(loadStateDict(c!));
  assert.ok(swinir.detect(sd));
  sd.set('absolute_pos_embed', zeros([1, 256, 16]));
  assert.equal(swinir.detect(sd), undefined);
});

test('EXPECTED FAILURE - a recognised SwinIR missing one block tensor is model_unreadable naming it', () => {
  const [c] = referenceCases('swinir.json');
  const sd = new Map(loadStateDict(c!));
  const det = swinir.detect(sd)!;
  sd.delete('layers.1.residual_group.blocks.1.attn.proj.weight');
  assert.throws(
    () => swinir.build(sd, det),
    (e) =>
      isPixeliftError(e) && e.code === 'model_unreadable' && /blocks\.1\.attn\.proj\.weight/.test(e.message),
  );
});

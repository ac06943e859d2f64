/**
 * SwinIR against PyTorch: tiny random-weight models of every upsampler and residual variant
 * (scripts/pytorch-fixtures/swinir.py), inputs whose sides are not window multiples, outputs
 * computed by PyTorch. Detection must recover the script's hyperparameters; the ONNX graph must
 * reproduce PyTorch's output within 1e-4.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ARCHITECTURES } from '../../../src/models/pytorch/arch/index.js';
import { swinir } from '../../../src/models/pytorch/arch/swinir.js';
import { loadIo, loadStateDict, maxAbsDiff, referenceCases, runOnnx } from './reference.js';

const TOLERANCE = 1e-4;

for (const c of referenceCases('swinir.json')) {
  test(`detects ${c.name} with the hyperparameters it was built with`, () => {
    const det = ARCHITECTURES.find((a) => a.detect(loadStateDict(c)))?.detect(loadStateDict(c));
    assert.ok(det, 'some architecture recognises it');
    assert.equal(det.arch, c.arch);
    assert.ok(det.variant.includes(c.variantIncludes), det.variant);
    assert.equal(det.scale, c.scale);
    assert.equal(det.inputChannels, c.inputChannels);
    assert.equal(det.outputChannels, c.outputChannels);
    assert.equal(det.sizeMultiple, c.sizeMultiple);
    assert.deepEqual(det.params, c.params);
  });

  test(`${c.name}: onnxruntime matches PyTorch within ${TOLERANCE} on a ${c.name.includes('jpeg') ? 'grayscale' : 'RGB'} input with sides that are not window multiples`, async (t) => {
    const sd = loadStateDict(c);
    const det = swinir.detect(sd)!;
    const { onnx, stats } = swinir.build(sd, det);
    const { input, expected } = loadIo(c);
    assert.notEqual(input.dims[2]! % c.sizeMultiple, 0);
    const out = await runOnnx(onnx, input);
    assert.deepEqual(out.dims, expected.dims);
    const err = maxAbsDiff(out, expected);
    t.diagnostic(`max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `max abs error ${err}`);
    assert.equal(stats.scale, c.scale);
    // Learned tensors only: buffers (relative_position_index, attn_mask) are not parameters.
    let learned = 0;
    for (const [k, v] of sd) if (!/relative_position_index|attn_mask/.test(k)) learned += v.data.length;
    assert.equal(stats.params, learned);
  });
}

test('does not claim foreign state dicts: an ESRGAN-like dict, an empty one, a SwinIR with an unknown upsampler shape', () => {
  const t = (shape: number[]) => ({ shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  assert.equal(swinir.detect(new Map()), undefined);
  assert.equal(
    swinir.detect(
      new Map([
        ['conv_first.weight', t([64, 3, 3, 3])],
        ['RRDB_trunk.0.RDB1.conv1.weight', t([32, 64, 3, 3])],
      ]),
    ),
    undefined,
  );
  const [c] = referenceCases('swinir.json');
  const sd = new Map(loadStateDict(c!));
  sd.set('upsample.0.weight', t([50, 16, 3, 3]));
  assert.equal(swinir.detect(sd), undefined);
});

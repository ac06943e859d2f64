/**
 * GFPGAN v1 clean against PyTorch (scripts/pytorch-fixtures/gfpgan.py): the v1.3/v1.4 layout
 * (a latent per layer, SFT on half the channels, multiplier 2) at 64² and the constructor's
 * defaults (one latent, SFT on all channels, multiplier 1) at 32², both narrowed to 1/16, with
 * visible noise strengths so the stored-noise path counts; and detection on the released 512²
 * network's key and shape listing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { gfpgan } from '../../../src/models/pytorch/arch/gfpgan.js';
import { ARCHITECTURES } from '../../../src/models/pytorch/arch/index.js';
import { importPytorch } from '../../../src/models/pytorch/import.js';
import type { StateDict, TorchTensor } from '../../../src/models/pytorch/types.js';
import { repoPath } from '../../helpers/paths.js';
import { loadIo, loadStateDict, maxAbsDiff, referenceCases, runOnnx, TOLERANCE } from './reference.js';

const fixture = (name: string) => repoPath('test', 'fixtures', 'pytorch', name);

/** Learned tensors the face graph runs: not the style MLP (input_is_latent) nor the U-Net's toRGB (return_rgb=False). */
const UNUSED = /^(toRGB\.|stylegan_decoder\.style_mlp\.|stylegan_decoder\.noises\.)/;

for (const c of referenceCases('gfpgan.json')) {
  test(`detects ${c.name} with the hyperparameters it was built with`, () => {
    const sd = loadStateDict(c);
    const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
    assert.ok(det);
    assert.equal(det.arch, 'gfpgan');
    assert.ok(det.variant.includes(c.variantIncludes), det.variant);
    assert.equal(det.scale, 1);
    assert.equal(det.sizeMultiple, c.sizeMultiple);
    assert.deepEqual(det.params, c.params);
  });

  test(`${c.name}: onnxruntime matches PyTorch (stored noise) within ${TOLERANCE}`, async (t) => {
    const sd = loadStateDict(c);
    const { onnx, stats } = gfpgan.build(sd, gfpgan.detect(sd)!);
    const { input, expected } = loadIo(c);
    const out = await runOnnx(onnx, input);
    assert.deepEqual(out.dims, expected.dims);
    const err = maxAbsDiff(out, expected);
    t.diagnostic(`max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `max abs error ${err}`);
    let used = 0;
    for (const [k, v] of sd) if (!UNUSED.test(k)) used += v.data.length;
    assert.equal(stats.params, used);
    assert.equal(stats.scale, 1);
  });

  test(`${c.name}: the noise strengths matter (zeroing them moves the output past the tolerance)`, async () => {
    const sd = new Map(loadStateDict(c));
    for (const [k, v] of sd) {
      if (/style_conv(s\.\d+|1)\.weight$/.test(k)) sd.set(k, { shape: v.shape, data: new Float32Array(1) });
    }
    const { input, expected } = loadIo(c);
    const out = await runOnnx(gfpgan.build(sd, gfpgan.detect(sd)!).onnx, input);
    assert.ok(maxAbsDiff(out, expected) > 100 * TOLERANCE);
  });

  if (c.pth) {
    test(`${c.name}: the zip checkpoint (params_ema) imports to the same network`, async () => {
      const result = importPytorch(fixture(c.pth!));
      assert.equal(result.detection.arch, 'gfpgan');
      assert.deepEqual(result.detection.params, c.params);
      const { input, expected } = loadIo(c);
      assert.ok(maxAbsDiff(await runOnnx(result.onnx, input), expected) <= TOLERANCE);
    });
  }
}

/** The released GFPGANv1.4 keys and shapes, with empty tensors (detection reads shapes only). */
function releasedShapes(): Map<string, TorchTensor> {
  const shapes = JSON.parse(fs.readFileSync(fixture('gfpgan-v1.4-shapes.json'), 'utf8')) as Record<
    string,
    number[]
  >;
  return new Map(Object.entries(shapes).map(([k, shape]) => [k, { shape, data: new Float32Array(0) }]));
}

test('detects the released GFPGANv1.4 layout as a 512² face model', () => {
  const sd: StateDict = releasedShapes();
  const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
  assert.ok(det);
  assert.equal(det.arch, 'gfpgan');
  assert.equal(det.sizeMultiple, 512);
  assert.deepEqual(det.params, {
    face: true,
    size: 512,
    styleDim: 512,
    differentW: true,
    sftHalf: true,
    narrow: 1,
  });
});

test('does not claim a state dict with an inconsistent style width, nor the other architectures’ fixtures', () => {
  const sd = releasedShapes();
  sd.set('final_linear.weight', { shape: [7 * 512, 8192], data: new Float32Array(0) });
  assert.equal(gfpgan.detect(sd), undefined);
  for (const m of [
    'swinir.json',
    'hat.json',
    'dat.json',
    'plksr.json',
    'omnisr.json',
    'realcugan.json',
    'codeformer.json',
    'restoreformer.json',
  ]) {
    for (const c of referenceCases(m)) assert.equal(gfpgan.detect(loadStateDict(c)), undefined, c.name);
  }
});

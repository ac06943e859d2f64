/**
 * CodeFormer against PyTorch (scripts/pytorch-fixtures/codeformer.py): the released block
 * structure with fewer levels (64² and 32² faces, the same 16×16 latent), fused at 32/64 as the
 * release is and at the latent side, each at fidelity w = 0, 0.5 and 1; and detection on the
 * released 512² network's key and shape listing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { codeformer } from '../../../src/models/pytorch/arch/codeformer.js';
import { ARCHITECTURES } from '../../../src/models/pytorch/arch/index.js';
import { importPytorch } from '../../../src/models/pytorch/import.js';
import { readSafetensors } from '../../../src/models/pytorch/safetensors.js';
import type { TorchTensor } from '../../../src/models/pytorch/types.js';
import { repoPath } from '../../helpers/paths.js';
import { loadStateDict, maxAbsDiff, type ReferenceCase, referenceCases, TOLERANCE } from './reference.js';

const fixture = (name: string) => repoPath('test', 'fixtures', 'pytorch', name);
const cases = referenceCases('codeformer.json') as (ReferenceCase & { weights: number[] })[];

function io(c: ReferenceCase): Map<string, ort.Tensor> {
  const sd = readSafetensors(fs.readFileSync(fixture(c.io)), c.io);
  return new Map([...sd].map(([k, v]) => [k, new ort.Tensor('float32', v.data, [...v.shape])]));
}

/** Each fidelity's output from one session, as the pipeline would run it. */
async function run(onnx: Uint8Array, input: ort.Tensor, weights: readonly number[]): Promise<ort.Tensor[]> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 });
  try {
    const outs: ort.Tensor[] = [];
    for (const w of weights) {
      outs.push(
        (await session.run({ input, w: new ort.Tensor('float32', Float32Array.of(w), [1]) })).output!,
      );
    }
    return outs;
  } finally {
    await session.release();
  }
}

const key = (w: number) => `output_w${Number.isInteger(w) ? w.toFixed(1) : w}`;

for (const c of cases) {
  test(`detects ${c.name} with the hyperparameters it was built with`, () => {
    const sd = loadStateDict(c);
    const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
    assert.ok(det);
    assert.equal(det.arch, 'codeformer');
    assert.ok(det.variant.includes(c.variantIncludes), det.variant);
    assert.equal(det.scale, 1);
    assert.equal(det.sizeMultiple, c.sizeMultiple);
    assert.deepEqual(det.params, c.params);
  });

  test(`${c.name}: onnxruntime matches PyTorch within ${TOLERANCE} at w = ${c.weights.join(', ')}`, async (t) => {
    const sd = loadStateDict(c);
    const { onnx, stats } = codeformer.build(sd, codeformer.detect(sd)!);
    const data = io(c);
    const outs = await run(onnx, data.get('input')!, c.weights);
    for (const [i, w] of c.weights.entries()) {
      const expected = data.get(key(w))!;
      assert.deepEqual(outs[i]!.dims, expected.dims);
      const err = maxAbsDiff(outs[i]!, expected);
      t.diagnostic(`w ${w}: max abs error ${err.toExponential(2)}`);
      assert.ok(err <= TOLERANCE, `w ${w}: max abs error ${err}`);
    }
    // w changes the result: the fusion is live, and w = 0 is not w = 1.
    assert.ok(maxAbsDiff(outs[0]!, outs.at(-1)!) > 100 * TOLERANCE);
    let learned = 0;
    for (const v of sd.values()) learned += v.data.length;
    assert.equal(stats.params, learned);
  });

  if (c.pth) {
    test(`${c.name}: the zip checkpoint (params_ema) imports to the same network`, async () => {
      const result = importPytorch(fixture(c.pth!));
      assert.equal(result.detection.arch, 'codeformer');
      assert.deepEqual(result.detection.params, c.params);
      const data = io(c);
      const [out] = await run(result.onnx, data.get('input')!, [1]);
      assert.ok(maxAbsDiff(out!, data.get(key(1))!) <= TOLERANCE);
    });
  }
}

function releasedShapes(): Map<string, TorchTensor> {
  const shapes = JSON.parse(fs.readFileSync(fixture('codeformer-shapes.json'), 'utf8')) as Record<
    string,
    number[]
  >;
  return new Map(Object.entries(shapes).map(([k, shape]) => [k, { shape, data: new Float32Array(0) }]));
}

test('detects the released CodeFormer layout as a 512² face model fused at 32…256', () => {
  const sd = releasedShapes();
  const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
  assert.ok(det);
  assert.equal(det.arch, 'codeformer');
  assert.equal(det.sizeMultiple, 512);
  assert.deepEqual(det.params, {
    face: true,
    size: 512,
    latent: 16,
    dim: 512,
    heads: 8,
    layers: 9,
    codebook: 1024,
    connect: [32, 64, 128, 256],
  });
});

test('does not claim a fuse layer at a side the network does not have, nor other architectures’ fixtures', () => {
  const sd = releasedShapes();
  sd.set('fuse_convs_dict.1024.scale.0.weight', { shape: [64, 64, 3, 3], data: new Float32Array(0) });
  assert.equal(codeformer.detect(sd), undefined);
  for (const m of [
    'swinir.json',
    'hat.json',
    'dat.json',
    'plksr.json',
    'omnisr.json',
    'realcugan.json',
    'gfpgan.json',
    'restoreformer.json',
  ]) {
    for (const c of referenceCases(m)) assert.equal(codeformer.detect(loadStateDict(c)), undefined, c.name);
  }
});

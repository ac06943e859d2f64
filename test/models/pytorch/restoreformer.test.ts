/**
 * RestoreFormer++ and RestoreFormer against PyTorch (scripts/pytorch-fixtures/restoreformer.py):
 * the released block structure with three of the five levels (64² faces, the same 16×16
 * latent), 4 and 8 heads, cross-attention at the latent side and (++) one level above; the ++
 * fixture also as the released .ckpt layout (state_dict, `vqvae.` prefix, training-only keys);
 * and detection on the released RestoreFormer++ key and shape listing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { ARCHITECTURES } from '../../../src/models/pytorch/arch/index.js';
import { restoreformer } from '../../../src/models/pytorch/arch/restoreformer.js';
import { importPytorch } from '../../../src/models/pytorch/import.js';
import type { TorchTensor } from '../../../src/models/pytorch/types.js';
import { repoPath } from '../../helpers/paths.js';
import {
  loadIo,
  loadStateDict,
  maxAbsDiff,
  type ReferenceCase,
  referenceCases,
  runOnnx,
  TOLERANCE,
} from './reference.js';

const fixture = (name: string) => repoPath('test', 'fixtures', 'pytorch', name);
const cases = referenceCases('restoreformer.json') as (ReferenceCase & { ckpt?: string })[];

/** Self-attention blocks leave their norm2 (the cross-attention query norm) unused. */
const UNUSED = /^encoder\.(down\.\d+\.attn\.\d+|mid\.attn_1)\.norm2\./;

for (const c of cases) {
  test(`detects ${c.name} with the hyperparameters it was built with`, () => {
    const sd = loadStateDict(c);
    const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
    assert.ok(det);
    assert.equal(det.arch, 'restoreformer');
    assert.ok(det.variant.startsWith(c.variantIncludes), det.variant);
    assert.equal(det.scale, 1);
    assert.equal(det.sizeMultiple, c.sizeMultiple);
    assert.deepEqual(det.params, c.params);
  });

  test(`${c.name}: onnxruntime matches PyTorch within ${TOLERANCE}`, async (t) => {
    const sd = loadStateDict(c);
    const { onnx, stats } = restoreformer.build(sd, restoreformer.detect(sd)!);
    const { input, expected } = loadIo(c);
    const out = await runOnnx(onnx, input);
    assert.deepEqual(out.dims, expected.dims);
    const err = maxAbsDiff(out, expected);
    t.diagnostic(`max abs error ${err.toExponential(2)}`);
    assert.ok(err <= TOLERANCE, `max abs error ${err}`);
    let used = 0;
    for (const [k, v] of sd) if (!UNUSED.test(k)) used += v.data.length;
    assert.equal(stats.params, used);
  });

  if (c.ckpt) {
    test(`${c.name}: the released .ckpt layout (state_dict, vqvae. prefix, other keys) imports to the same network`, async () => {
      const result = importPytorch(fixture(c.ckpt!));
      assert.equal(result.detection.arch, 'restoreformer');
      assert.deepEqual(result.detection.params, { ...c.params, prefix: 'vqvae.' });
      const { input, expected } = loadIo(c);
      assert.ok(maxAbsDiff(await runOnnx(result.onnx, input), expected) <= TOLERANCE);
    });
  }
}

test('detects the released RestoreFormer++ layout as a 512² face model with 4 heads', () => {
  const shapes = JSON.parse(fs.readFileSync(fixture('restoreformer-pp-shapes.json'), 'utf8')) as Record<
    string,
    number[]
  >;
  const sd = new Map<string, TorchTensor>(
    Object.entries(shapes).map(([k, shape]) => [k, { shape, data: new Float32Array(0) }]),
  );
  const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
  assert.ok(det);
  assert.equal(det.arch, 'restoreformer');
  assert.equal(det.sizeMultiple, 512);
  assert.deepEqual(det.params, {
    face: true,
    size: 512,
    latent: 16,
    plusPlus: true,
    heads: 4,
    codebook: 1024,
    prefix: '',
  });
});

test('does not claim the other architectures’ fixtures', () => {
  for (const m of ['swinir.json', 'hat.json', 'realcugan.json', 'gfpgan.json', 'codeformer.json']) {
    for (const c of referenceCases(m))
      assert.equal(restoreformer.detect(loadStateDict(c)), undefined, c.name);
  }
});

/**
 * Every architecture and variant the PyTorch importer recognises, in every file format,
 * against PyTorch's own output (fixtures from scripts/pytorch-fixtures/make_fixtures.py):
 * max abs error ≤ 1e-4 in fp32 (reached: ≤ 2e-7).
 *
 * `esrgan-basicsr-x4-ema.pth` holds different random weights under `params` and `params_ema`,
 * with PyTorch's output from `params_ema`: it passes only if the EMA weights are the ones loaded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { importPytorch } from '../../../src/models/pytorch/import.js';
import { fixturePath, maxAbsDiff, pytorchCases, readF32, runOnnx } from '../../helpers/pytorch-fixtures.js';

const TOLERANCE = 1e-4;

for (const c of pytorchCases()) {
  for (const file of c.files) {
    test(`${file}: recognised as ${c.arch} ${c.scale}x and matches PyTorch within ${TOLERANCE}`, async () => {
      const r = importPytorch(fixturePath(file));
      assert.equal(r.detection.arch, c.arch);
      assert.equal(r.detection.scale, c.scale);
      assert.equal(r.stats.scale, c.scale);
      for (const [k, v] of Object.entries(c.params)) assert.equal(r.detection.params[k], v, `param ${k}`);
      if (c.paramCount > 0) assert.equal(r.stats.params, c.paramCount);
      assert.ok(r.stats.flopsPerInputPixel > 0);
      const out = await runOnnx(r.onnx, readF32(c.input), c.inputShape);
      assert.deepEqual(out.dims, c.outputShape);
      const err = maxAbsDiff(out.data as Float32Array, readF32(c.output));
      assert.ok(err <= TOLERANCE, `max abs error ${err}`);
      console.log(`  ${file}: max abs error ${err.toExponential(2)}`);
    });
  }
}

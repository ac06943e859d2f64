/**
 * The committed PyTorch reference fixtures (scripts/pytorch-fixtures/*.py): for each tiny
 * random-weight model, its state dict, an input, PyTorch's output, and the hyperparameters the
 * script built it with.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { ARCHITECTURES } from '../../../src/models/pytorch/arch/index.js';
import { importPytorch } from '../../../src/models/pytorch/import.js';
import { readSafetensors } from '../../../src/models/pytorch/safetensors.js';
import type { Architecture, StateDict } from '../../../src/models/pytorch/types.js';
import { repoPath } from '../../helpers/paths.js';

export interface ReferenceCase {
  readonly name: string;
  readonly file: string;
  readonly io: string;
  /** The same state dict as a PyTorch checkpoint (zip or legacy), nested under params_ema. */
  readonly pth?: string;
  readonly arch: string;
  readonly variantIncludes: string;
  readonly scale: number;
  readonly inputChannels: number;
  readonly outputChannels: number;
  readonly sizeMultiple: number;
  readonly params: Readonly<Record<string, unknown>>;
}

const fixture = (name: string) => repoPath('test', 'fixtures', 'pytorch', name);

export function referenceCases(manifest: string): ReferenceCase[] {
  return JSON.parse(fs.readFileSync(fixture(manifest), 'utf8')) as ReferenceCase[];
}

export function loadStateDict(c: ReferenceCase): StateDict {
  return readSafetensors(fs.readFileSync(fixture(c.file)), c.file);
}

export function loadIo(c: ReferenceCase): { input: ort.Tensor; expected: ort.Tensor } {
  const io = readSafetensors(fs.readFileSync(fixture(c.io)), c.io);
  const t = (key: string) => {
    const v = io.get(key)!;
    return new ort.Tensor('float32', v.data, [...v.shape]);
  };
  return { input: t('input'), expected: t('output') };
}

export async function runOnnx(bytes: Uint8Array, input: ort.Tensor): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ input });
    return out.output!;
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ort.Tensor, b: ort.Tensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

/** PyTorch's fp32 output must be reproduced this closely (the issue's bar). */
export const TOLERANCE = 1e-4;

const BUFFERS =
  /relative_position_index|attn_mask|rpe_biases|running_mean|running_var|num_batches_tracked|init_pos|^pro$/;

/**
 * For each case of `manifest`: detection through the registry recovers the script's
 * hyperparameters, and the built graph reproduces PyTorch's output within TOLERANCE on an input
 * whose sides are not multiples of the window size.
 */
export function verifyAgainstPyTorch(
  manifest: string,
  arch: Architecture,
  only: (c: ReferenceCase) => boolean = () => true,
): void {
  for (const c of referenceCases(manifest).filter(only)) {
    test(`detects ${c.name} with the hyperparameters it was built with`, () => {
      const sd = loadStateDict(c);
      const det = ARCHITECTURES.find((a) => a.detect(sd))?.detect(sd);
      assert.ok(det, 'some architecture recognises it');
      assert.equal(det.arch, c.arch);
      assert.ok(det.variant.includes(c.variantIncludes), det.variant);
      assert.equal(det.scale, c.scale);
      assert.equal(det.inputChannels, c.inputChannels);
      assert.equal(det.outputChannels, c.outputChannels);
      assert.equal(det.sizeMultiple, c.sizeMultiple);
      assert.deepEqual(det.params, c.params);
    });

    const sides = c.sizeMultiple > 1 ? ' on an input whose sides are not window multiples' : '';
    test(`${c.name}: onnxruntime matches PyTorch within ${TOLERANCE}${sides}`, async (t) => {
      const sd = loadStateDict(c);
      const { onnx, stats } = arch.build(sd, arch.detect(sd)!);
      const { input, expected } = loadIo(c);
      if (c.sizeMultiple > 1) {
        assert.notEqual(input.dims[2]! % c.sizeMultiple, 0);
        assert.notEqual(input.dims[3]! % c.sizeMultiple, 0);
      }
      const out = await runOnnx(onnx, input);
      assert.deepEqual(out.dims, expected.dims);
      const err = maxAbsDiff(out, expected);
      t.diagnostic(`max abs error ${err.toExponential(2)}`);
      assert.ok(err <= TOLERANCE, `max abs error ${err}`);
      assert.equal(stats.scale, c.scale);
      // Every learned tensor is counted once; buffers (position indices, masks) are not parameters.
      let learned = 0;
      for (const [k, v] of sd) if (!BUFFERS.test(k)) learned += v.data.length;
      assert.equal(stats.params, learned);
    });
    if (c.pth) {
      const pth = c.pth;
      test(`${c.name}: the ${pth.includes('legacy') ? 'legacy (pre-1.6)' : 'zip'} PyTorch checkpoint imports to the same network`, async () => {
        const result = importPytorch(fixture(pth));
        assert.equal(result.detection.arch, c.arch);
        assert.deepEqual(result.detection.params, c.params);
        const { input, expected } = loadIo(c);
        const err = maxAbsDiff(await runOnnx(result.onnx, input), expected);
        assert.ok(err <= TOLERANCE, `max abs error ${err}`);
      });
    }
  }
}

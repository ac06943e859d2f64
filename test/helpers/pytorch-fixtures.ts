/**
 * The committed PyTorch reference fixtures (test/fixtures/pytorch/, made by
 * scripts/pytorch-fixtures/make_fixtures.py with torch): tiny random-weight models in every
 * file format, an input, and PyTorch's own output for each.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { repoPath } from './paths.js';

export const PYTORCH_FIXTURES = repoPath('test/fixtures/pytorch');

export interface PytorchCase {
  readonly name: string;
  readonly arch: string;
  readonly scale: number;
  /** Hyperparameters the detection must find. */
  readonly params: Record<string, unknown>;
  readonly files: readonly string[];
  readonly input: string;
  readonly inputShape: readonly number[];
  readonly output: string;
  readonly outputShape: readonly number[];
  /** Elements of the PyTorch state dict (0 for SPAN, whose stale eval_conv Pixelift does not count). */
  readonly paramCount: number;
}

export const fixturePath = (name: string): string => `${PYTORCH_FIXTURES}/${name}`;

export function pytorchCases(): readonly PytorchCase[] {
  return (JSON.parse(fs.readFileSync(fixturePath('cases.json'), 'utf8')) as { cases: PytorchCase[] }).cases;
}

export function readF32(name: string): Float32Array {
  const b = fs.readFileSync(fixturePath(name));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Run an ONNX graph on one input; returns the output tensor. */
export async function runOnnx(
  onnx: Uint8Array,
  input: Float32Array,
  shape: readonly number[],
): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', input, shape) });
    return out.output!;
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

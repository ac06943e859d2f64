/**
 * The committed PyTorch reference fixtures (scripts/pytorch-fixtures/*.py): for each tiny
 * random-weight model, its state dict, an input, PyTorch's output, and the hyperparameters the
 * script built it with.
 */
import fs from 'node:fs';
import ort from 'onnxruntime-node';
import { readSafetensors } from '../../../src/models/pytorch/safetensors.js';
import type { StateDict } from '../../../src/models/pytorch/types.js';
import { repoPath } from '../../helpers/paths.js';

export interface ReferenceCase {
  readonly name: string;
  readonly file: string;
  readonly io: string;
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

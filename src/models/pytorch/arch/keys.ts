/**
 * Reading a state dict's structure: shapes by key, lengths of numbered module lists
 * (`layers.0.`, `layers.1.`, …), and the one accessor builders use for a tensor they need.
 */
import { PixeliftError } from '../../../errors.js';
import type { StateDict, TorchTensor } from '../types.js';

/** The shape of `key` when it exists with `rank` dimensions, else undefined. */
export function shapeOf(sd: StateDict, key: string, rank?: number): readonly number[] | undefined {
  const t = sd.get(key);
  if (!t || (rank !== undefined && t.shape.length !== rank)) return undefined;
  return t.shape;
}

/** How many consecutive `prefix.0.`, `prefix.1.`, … entries the state dict has. */
export function sequenceLength(sd: StateDict, prefix: string): number {
  const seen = new Set<number>();
  const start = `${prefix}.`;
  for (const key of sd.keys()) {
    if (!key.startsWith(start)) continue;
    const n = Number.parseInt(key.slice(start.length), 10);
    if (Number.isInteger(n) && key.slice(start.length).startsWith(`${n}.`)) seen.add(n);
  }
  let n = 0;
  while (seen.has(n)) n++;
  return n;
}

/** `√n` when n is a perfect square, else undefined. */
export function exactSqrt(n: number): number | undefined {
  const r = Math.round(Math.sqrt(n));
  return r * r === n ? r : undefined;
}

/**
 * The tensor `key`, which the detected architecture requires: a missing or misshapen one means
 * a damaged or hand-edited file, reported as `model_unreadable` naming the tensor.
 */
export function need(sd: StateDict, key: string, shape?: readonly number[]): TorchTensor {
  const t = sd.get(key);
  if (!t) {
    throw new PixeliftError('model_unreadable', {
      file: 'state dict',
      message: `the tensor ${key} is missing`,
    });
  }
  if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i]))) {
    throw new PixeliftError('model_unreadable', {
      file: 'state dict',
      message: `${key} has shape ${t.shape.join('x')}, expected ${shape.join('x')}`,
    });
  }
  return t;
}

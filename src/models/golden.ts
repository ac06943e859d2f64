/**
 * The golden check every network passes before it is trusted: its output for a fixed, small
 * input, compared with the output stored when it was converted (src/models/conversion-cache.ts)
 * or with the whole graph's output (segments, src/models/store.ts).
 */
import ort from 'onnxruntime-node';
import { PixeliftError } from '../errors.js';

/** Golden patch: 16×16, smooth gradients and edges, deterministic. */
export const GOLDEN_SIZE = 16;
/** Max abs difference between a cached model's output and its stored golden output. */
export const GOLDEN_TOLERANCE = 1e-3;

/** The deterministic golden input: RGB CHW 16×16 with gradients, an edge and a ring. */
export function goldenInput(size = GOLDEN_SIZE): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      const r = Math.hypot(x - size / 2, y - size / 2);
      out[i] = x / (size - 1);
      out[plane + i] = x + y < size ? 0.2 : 0.8;
      out[2 * plane + i] = 0.5 + 0.4 * Math.cos(r * 0.9);
    }
  }
  return out;
}

/**
 * The network's output for the golden input, fed and read in the network's own value range.
 * Always on CPU; thread count and optimisation level may differ between the run that stored a
 * golden and the one checking it, which GOLDEN_TOLERANCE (1e-3) absorbs: a corrupted weight or
 * a wrong conversion moves outputs by far more.
 */
export async function runGolden(
  session: ort.InferenceSession,
  scale: number,
  range: readonly [number, number],
): Promise<Float32Array> {
  const [lo, hi] = range;
  const size = fixedSide(session) ?? GOLDEN_SIZE;
  const x = goldenInput(size).map((v) => lo + v * (hi - lo));
  const feeds: Record<string, ort.Tensor> = {
    [session.inputNames[0]!]: new ort.Tensor('float32', x, [1, 3, size, size]),
  };
  // CodeFormer's fidelity weight: the reference's default.
  if (session.inputNames.includes('w')) feeds.w = new ort.Tensor('float32', Float32Array.of(0.5), [1]);
  const out = (await session.run(feeds))[session.outputNames[0]!]!;
  const expected = [1, 3, size * scale, size * scale];
  if (out.dims.join('x') !== expected.join('x')) {
    throw new PixeliftError('model_verification_failed', {
      model: 'golden',
      message: `output ${out.dims.join('x')}, expected ${expected.join('x')}`,
    });
  }
  return (out.data as Float32Array).map((v) => (v - lo) / (hi - lo));
}

/**
 * The side of a network whose input size is fixed in its graph (face restorers: 512, the
 * weights fix it), else undefined: the golden input is then that size, not 16×16.
 */
function fixedSide(session: ort.InferenceSession): number | undefined {
  const meta = session.inputMetadata?.[0];
  if (!meta?.isTensor) return undefined;
  const [, , h, w] = meta.shape;
  return typeof h === 'number' && h > 0 && h === w ? h : undefined;
}

/**
 * A fresh conversion must give finite values in a plausible range, and (`meanCheck`, for
 * upscalers) the input's mean: a face restorer turns any input into a face, so its mean is not
 * a property it keeps.
 */
export function checkSane(id: string, out: Float32Array, meanCheck = true): void {
  let sum = 0;
  for (const v of out) {
    if (!Number.isFinite(v) || v < -1 || v > 2) {
      throw new PixeliftError('model_verification_failed', {
        model: id,
        message: `golden output holds ${v}`,
      });
    }
    sum += v;
  }
  if (!meanCheck) return;
  const input = goldenInput();
  const inMean = input.reduce((a, b) => a + b, 0) / input.length;
  const outMean = sum / out.length;
  if (Math.abs(outMean - inMean) > 0.1) {
    throw new PixeliftError('model_verification_failed', {
      model: id,
      message: `golden output mean ${outMean.toFixed(3)} is far from the input mean ${inMean.toFixed(3)}`,
    });
  }
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

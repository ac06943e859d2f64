/**
 * The machine's practical fp32 convolution peak in onnxruntime: stacks of 3×3 Conv 64→64
 * with bias, the shape that dominates every super-resolution network benchmarked here, run
 * with the same session options as the models. Several activation sizes are tried (cache
 * behaviour differs) and the best median counts.
 */
import { GraphBuilder } from '../../src/models/onnx/builder.js';
import { type SettlePolicy, type TimingPolicy, timeSettled } from './measure.js';
import { createSession, feed } from './ort-session.js';
import { prng } from './synthetic-image.js';

export interface PeakShape {
  readonly channels: number;
  readonly side: number;
  readonly depth: number;
}

export interface PeakResult extends PeakShape {
  readonly medianMs: number;
  readonly gflops: number;
  readonly cpuShare: number;
  readonly attempts: number;
}

export const PEAK_SHAPES: readonly PeakShape[] = [
  { channels: 64, side: 64, depth: 16 },
  { channels: 64, side: 128, depth: 8 },
  { channels: 64, side: 256, depth: 4 },
];

export function convStack({ channels: c, depth }: PeakShape, seed = 7): Uint8Array {
  const rand = prng(seed);
  const g = new GraphBuilder('conv-peak');
  let x = g.input('input', [1, c, 'height', 'width']);
  // He-scaled weights keep activations in a normal range through the stack (no denormals).
  const amp = Math.sqrt(6 / (9 * c));
  for (let i = 0; i < depth; i++) {
    const w = Float32Array.from({ length: c * c * 9 }, () => (rand() * 2 - 1) * amp);
    const b = Float32Array.from({ length: c }, () => (rand() - 0.5) * 0.1);
    x = g.node('Conv', [x, g.tensor('w', w, [c, c, 3, 3]), g.tensor('b', b, [c])], {
      kernel_shape: [3, 3],
      pads: [1, 1, 1, 1],
    });
  }
  g.output(x, 'output', [1, c, 'height', 'width']);
  return g.toBytes({ producer: 'pixelift-bench' });
}

export async function measurePeak(
  shapes: readonly PeakShape[] = PEAK_SHAPES,
  policy: TimingPolicy = { warmups: 2, minRuns: 7, maxRuns: 15, budgetMs: 1500 },
  settle: SettlePolicy = { maxWaitMs: 20_000, attempts: 3, expectedShare: 1 },
): Promise<PeakResult[]> {
  const results: PeakResult[] = [];
  for (const shape of shapes) {
    const session = await createSession(convStack(shape));
    const rand = prng(11);
    const data = Float32Array.from({ length: shape.channels * shape.side ** 2 }, rand);
    const inputs = feed(data, shape.channels, shape.side);
    const t = await timeSettled(() => session.run(inputs), policy, settle);
    await session.release();
    const flops = 2 * shape.channels * shape.channels * 9 * shape.side ** 2 * shape.depth;
    results.push({
      ...shape,
      medianMs: t.medianMs,
      gflops: flops / t.medianMs / 1e6,
      cpuShare: t.cpuShare,
      attempts: t.attempts,
    });
  }
  return results;
}

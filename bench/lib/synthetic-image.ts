/**
 * Deterministic test tiles. Convolution speed does not depend on pixel values (denormals
 * aside), but the precision experiments compare outputs, and uniform noise would exaggerate
 * quantization error; so tiles are image-like: gradients, hard-edged shapes, texture and a
 * little noise, all drawn from a seeded PRNG.
 */

import { seededRandom } from '../../test/helpers/random.js';

/** The shared seeded PRNG (test/helpers/random.ts). */
export const prng = seededRandom;

/** An RGB image `side`×`side`, planar (NCHW, batch 1), values in 0..1. */
export function syntheticImage(side: number, seed: number): Float32Array {
  const rand = prng(seed);
  const plane = side * side;
  const out = new Float32Array(3 * plane);
  const base = [rand(), rand(), rand()];
  const grad = [rand() - 0.5, rand() - 0.5, rand() - 0.5];
  const shapes = Array.from({ length: 12 }, () => ({
    cx: rand() * side,
    cy: rand() * side,
    r: (0.05 + rand() * 0.25) * side,
    square: rand() < 0.5,
    color: [rand(), rand(), rand()],
  }));
  const freq = 0.05 + rand() * 0.3;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const u = x / side;
      const v = y / side;
      const rgb = base.map((b, c) => b + grad[c]! * (u - v));
      for (const s of shapes) {
        const dx = Math.abs(x - s.cx);
        const dy = Math.abs(y - s.cy);
        const inside = s.square ? Math.max(dx, dy) < s.r : dx * dx + dy * dy < s.r * s.r;
        if (inside) for (let c = 0; c < 3; c++) rgb[c] = 0.3 * rgb[c]! + 0.7 * s.color[c]!;
      }
      const texture = 0.06 * Math.sin(freq * x) * Math.cos(freq * 1.3 * y);
      const noise = (rand() - 0.5) * 0.04;
      for (let c = 0; c < 3; c++) {
        out[c * plane + y * side + x] = Math.min(1, Math.max(0, rgb[c]! + texture + noise));
      }
    }
  }
  return out;
}

/** NCHW planar → NHWC interleaved, for TF.js. */
export function toNhwc(planar: Float32Array, side: number, channels = 3): Float32Array {
  const plane = side * side;
  const out = new Float32Array(planar.length);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < channels; c++) out[i * channels + c] = planar[c * plane + i]!;
  }
  return out;
}

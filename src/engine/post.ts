/**
 * The knobs, each 0..1 where 0 leaves the image untouched (DESIGN §4):
 *   denoise          before the model: blends towards an edge-preserving smoothed copy
 *   fix_compression  before the model: smooths JPEG's 8x8 block boundaries where they are steps
 *                    of the block grid, not edges of the picture
 *   sharpen          after the model: unsharp mask
 * All work on planar float RGB (CHW, 0..1) in place of a copy. The pre-model knobs run on the
 * input (small); sharpen runs on the output, so it is separable and linear in the pixel count.
 */
import { invalidArgument } from '../errors.js';
import type { Tile } from '../models/runner.js';
import { reflect } from './tiles.js';

export interface Knobs {
  readonly denoise?: number;
  readonly fix_compression?: number;
  readonly sharpen?: number;
}

/** The knobs a job runs with: what was asked, else the model alias's preset, else 0. */
export function knobsWithPreset(asked: Knobs, preset: Knobs): Required<Knobs> {
  return {
    denoise: asked.denoise ?? preset.denoise ?? 0,
    fix_compression: asked.fix_compression ?? preset.fix_compression ?? 0,
    sharpen: asked.sharpen ?? preset.sharpen ?? 0,
  };
}

export function checkKnobs(k: Knobs): void {
  for (const name of ['denoise', 'fix_compression', 'sharpen'] as const) {
    const v = k[name];
    if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 1))) {
      throw invalidArgument(name, 'number in [0, 1]', v);
    }
  }
}

/** Separable Gaussian blur of each plane, edges reflected. */
export function gaussian(img: Tile, sigma: number): Float32Array {
  const radius = Math.max(1, Math.ceil(sigma * 3));
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    kernel[i + radius] = v;
    sum += v;
  }
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const { width: w, height: h, data } = img;
  const tmp = new Float32Array(data.length);
  const out = new Float32Array(data.length);
  // Reflected source index for every offset position, so the inner loops carry no branches.
  const xs = Int32Array.from({ length: w + 2 * radius }, (_, i) => reflect(i - radius, w));
  const ys = Int32Array.from({ length: h + 2 * radius }, (_, i) => reflect(i - radius, h));
  for (let p = 0; p < 3; p++) {
    const base = p * w * h;
    for (let y = 0; y < h; y++) {
      const row = base + y * w;
      for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let k = 0; k < kernel.length; k++) acc += kernel[k]! * data[row + xs[x + k]!]!;
        tmp[row + x] = acc;
      }
    }
    for (let y = 0; y < h; y++) {
      const row = base + y * w;
      for (let k = 0; k < kernel.length; k++) {
        const wk = kernel[k]!;
        const src = base + ys[y + k]! * w;
        for (let x = 0; x < w; x++) out[row + x]! += wk * tmp[src + x]!;
      }
    }
  }
  return out;
}

/**
 * Denoise: each pixel moves towards its Gaussian-smoothed value by `strength`, less where the
 * local difference is large (an edge) than where it is small (noise), so edges survive.
 */
export function denoise(img: Tile, strength: number): Tile {
  if (strength <= 0) return img;
  const smooth = gaussian(img, 0.6 + 1.4 * strength);
  const out = new Float32Array(img.data.length);
  // Differences above ~0.12 (30/255) are treated as edges and kept.
  const edge = 0.04 + 0.08 * strength;
  for (let i = 0; i < out.length; i++) {
    const d = smooth[i]! - img.data[i]!;
    const keepEdge = Math.exp(-(d * d) / (2 * edge * edge));
    out[i] = img.data[i]! + strength * keepEdge * d;
  }
  return { data: out, width: img.width, height: img.height };
}

/**
 * JPEG deblocking: at every 8-pixel block boundary (columns and rows 8k-1 | 8k), a step smaller
 * than a picture edge is spread over the four pixels around it, by `strength`.
 */
export function fixCompression(img: Tile, strength: number): Tile {
  if (strength <= 0) return img;
  const { width: w, height: h } = img;
  const out = Float32Array.from(img.data);
  const limit = 0.03 + 0.12 * strength; // steps above this are real edges
  const smoothPair = (at: (i: number) => number) => {
    const a = out[at(-2)]!;
    const b = out[at(-1)]!;
    const c = out[at(0)]!;
    const d = out[at(1)]!;
    const step = c - b;
    if (Math.abs(step) >= limit) return;
    // Move the two pixels either side of the boundary towards a straight ramp from a to d.
    const k = strength * (1 - Math.abs(step) / limit);
    out[at(-1)] = b + k * (a + (d - a) / 3 - b);
    out[at(0)] = c + k * (a + (2 * (d - a)) / 3 - c);
  };
  for (let p = 0; p < 3; p++) {
    const base = p * w * h;
    for (let y = 0; y < h; y++) {
      for (let x = 8; x < w - 1; x += 8) smoothPair((i) => base + y * w + x + i);
    }
    for (let y = 8; y < h - 1; y += 8) {
      for (let x = 0; x < w; x++) smoothPair((i) => base + (y + i) * w + x);
    }
  }
  return { data: out, width: w, height: h };
}

/** Unsharp mask: x + amount * (x - blur(x)), amount up to 1.5 at strength 1, sigma 1 px. */
export function sharpen(img: Tile, strength: number): Tile {
  if (strength <= 0) return img;
  const blur = gaussian(img, 1);
  const amount = 1.5 * strength;
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! + amount * (img.data[i]! - blur[i]!);
  return { data: out, width: img.width, height: img.height };
}

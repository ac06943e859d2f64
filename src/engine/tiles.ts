/**
 * Tiled inference with context and feathered blending.
 *
 * The image is covered by overlapping tiles. Each is run with `pad` pixels of real context on
 * every side (reflected at the image border, as Real-ESRGAN's pre_pad does) so its
 * convolutions see the neighbourhood a whole-image run would; the context is cut away and the
 * tile's output is blended into the result with weights that ramp linearly across the overlap
 * with its neighbours (Real-ESRGAN pastes tile centres with no blending, and users see seams).
 * Per axis the ramps are normalised to sum to 1, so the 2-D weights (their products) are a
 * partition of unity and no weight plane is needed. Memory per run is bounded by the tile
 * size; the result is written into a sink (planar float, or interleaved 16-bit for the last pass).
 */
import type { Tile } from '../models/runner.js';
import { type Pace, unpaced } from './pace.js';

export interface TileOptions {
  /** Tile side in input pixels (without context). */
  readonly tile: number;
  /** Context pixels on each side, discarded after the run. */
  readonly pad: number;
  /** Input pixels shared by neighbouring tiles and blended (at most tile / 2). */
  readonly overlap?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  /** Wraps each tile's run, which blocks this thread: announced and timed (pace.ts). */
  readonly pace?: Pace;
  /** The network's multiply-adds per input pixel, for `pace` (0: runs are timed, never announced). */
  readonly macsPerPixel?: number;
}

export type RunTile = (tile: Tile) => Promise<Tile>;

/**
 * Where tile outputs go: `add` accumulates a weighted value at a channel and pixel index (blended
 * tiles); `put` writes `n` values of `src` from `from` to the pixels from `pixel` on, once each
 * (exact tiles do not overlap, so a row is stored whole, without a call per value).
 */
export interface Sink<T> {
  readonly width: number;
  readonly height: number;
  add(channel: number, pixel: number, value: number): void;
  put(channel: number, pixel: number, src: Float32Array, from: number, n: number): void;
  result(): T;
}

export function planarSink(width: number, height: number): Sink<Tile> {
  const data = new Float32Array(3 * width * height);
  const plane = width * height;
  return {
    width,
    height,
    add: (c, i, v) => {
      data[c * plane + i]! += v;
    },
    put: (c, i, src, from, n) => data.set(src.subarray(from, from + n), c * plane + i),
    result: () => ({ data, width, height }),
  };
}

/**
 * Interleaved RGB, 16 bits per channel: what sharp takes as raw input. Values are clamped to
 * 0..1 as they arrive; rounding at each of the (at most four) additions costs < 2/65535.
 */
export function interleaved16Sink(width: number, height: number): Sink<Uint16Array> {
  const data = new Uint16Array(3 * width * height);
  return {
    width,
    height,
    add: (c, i, v) => {
      const k = 3 * i + c;
      data[k] = Math.min(65535, data[k]! + Math.round((v <= 0 ? 0 : v) * 65535));
    },
    put: (c, i, src, from, n) => {
      for (let k = 3 * i + c, j = from; j < from + n; k += 3, j++) {
        const v = src[j]!;
        // A Uint16Array store truncates, so + 0.5 rounds as Math.round does; NaN stores 0.
        data[k] = v <= 0 ? 0 : v >= 1 ? 65535 : v * 65535 + 0.5;
      }
    },
    result: () => data,
  };
}

interface Span {
  /** Tile start and end in input pixels. */
  readonly a: number;
  readonly b: number;
  /** Normalised blend weight per output pixel of [a*scale, b*scale). */
  readonly weights: Float32Array;
}

/** Tiles along one axis of `size` input pixels, with their normalised output weights. */
export function spans(size: number, tile: number, overlap: number, scale: number): Span[] {
  const n = size <= tile ? 1 : Math.ceil((size - overlap) / (tile - overlap));
  const starts = Array.from({ length: n }, (_, i) =>
    n === 1 ? 0 : Math.round((i * (size - tile)) / (n - 1)),
  );
  const bounds = starts.map((a) => [a, Math.min(size, a + tile)] as const);
  const out = size * scale;
  const raw = bounds.map(([a, b], i) => {
    const w = new Float32Array((b - a) * scale);
    const prevEnd = i > 0 ? bounds[i - 1]![1] * scale : a * scale; // overlap with the previous tile
    const nextStart = i < n - 1 ? bounds[i + 1]![0] * scale : b * scale;
    for (let x = 0; x < w.length; x++) {
      const X = a * scale + x + 0.5;
      const rampIn = prevEnd > a * scale ? (X - a * scale) / (prevEnd - a * scale) : 1;
      const rampOut = nextStart < b * scale ? (b * scale - X) / (b * scale - nextStart) : 1;
      w[x] = Math.max(1e-6, Math.min(1, rampIn, rampOut));
    }
    return w;
  });
  const sum = new Float32Array(out);
  bounds.forEach(([a], i) => {
    raw[i]!.forEach((v, x) => {
      sum[a * scale + x]! += v;
    });
  });
  return bounds.map(([a, b], i) => ({
    a,
    b,
    weights: raw[i]!.map((v, x) => v / sum[a * scale + x]!),
  }));
}

/** Upscale a whole RGB CHW image with `run`, tile by tile, into `sink`. */
export async function runTiled<T>(
  image: Tile,
  scale: number,
  run: RunTile,
  opts: TileOptions,
  sink: Sink<T>,
): Promise<T> {
  const { width: W, height: H } = image;
  if (sink.width !== W * scale || sink.height !== H * scale) {
    throw new RangeError(`sink is ${sink.width}x${sink.height}, expected ${W * scale}x${H * scale}`);
  }
  const overlap = Math.min(opts.overlap ?? 0, Math.floor(opts.tile / 2));
  const xs = spans(W, opts.tile, overlap, scale);
  const ys = spans(H, opts.tile, overlap, scale);
  const ow = sink.width;
  const total = xs.length * ys.length;
  const pace = opts.pace ?? unpaced;
  let done = 0;
  for (const sy of ys) {
    for (const sx of xs) {
      opts.signal?.throwIfAborted();
      const pw = sx.b - sx.a + 2 * opts.pad;
      const ph = sy.b - sy.a + 2 * opts.pad;
      const work = { macs: (opts.macsPerPixel ?? 0) * pw * ph, from: done / total, to: (done + 1) / total };
      const result = await pace(work, () =>
        run({ data: crop(image, sx.a - opts.pad, sy.a - opts.pad, pw, ph), width: pw, height: ph }),
      );
      const off = opts.pad * scale;
      const plane = result.width * result.height;
      for (let y = 0; y < sy.weights.length; y++) {
        const wy = sy.weights[y]!;
        const src = (y + off) * result.width + off;
        const dst = (sy.a * scale + y) * ow + sx.a * scale;
        for (let x = 0; x < sx.weights.length; x++) {
          const w = wy * sx.weights[x]!;
          for (let c = 0; c < 3; c++) sink.add(c, dst + x, w * result.data[c * plane + src + x]!);
        }
      }
      opts.onProgress?.(++done, total);
    }
  }
  return sink.result();
}

/** A w×h window at (x0, y0), reflecting (without repeating the edge) where it leaves the image. */
export function crop(image: Tile, x0: number, y0: number, w: number, h: number): Float32Array {
  const { width: W, height: H, data } = image;
  const out = new Float32Array(3 * w * h);
  const xs = Int32Array.from({ length: w }, (_, i) => reflect(x0 + i, W));
  for (let c = 0; c < 3; c++) {
    const plane = data.subarray(c * W * H, (c + 1) * W * H);
    for (let y = 0; y < h; y++) {
      const row = reflect(y0 + y, H) * W;
      const o = c * w * h + y * w;
      for (let x = 0; x < w; x++) out[o + x] = plane[row + xs[x]!]!;
    }
  }
  return out;
}

/** Reflect index i into [0, n): -1 → 1, n → n-2 (numpy "reflect"); repeats for far indices. */
export function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = i % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

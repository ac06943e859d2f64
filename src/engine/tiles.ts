/**
 * Tiled inference. The image is cut into tiles; each is run with `pad` pixels of real context
 * on every side (reflected at the image border, as Real-ESRGAN's pre_pad does), and only its
 * centre is kept, so memory per run is bounded by the tile size, not the image size, and the
 * convolutions near a tile edge see the same neighbourhood they would in a whole-image run.
 */
import type { Tile } from '../models/runner.js';

export interface TileOptions {
  /** Tile side in input pixels (without context). */
  readonly tile: number;
  /** Context pixels on each side. */
  readonly pad: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

export type RunTile = (tile: Tile) => Promise<Tile>;

/** Upscale a whole RGB CHW image with `run`, tile by tile. */
export async function runTiled(image: Tile, scale: number, run: RunTile, opts: TileOptions): Promise<Tile> {
  const { width: W, height: H } = image;
  const ow = W * scale;
  const oh = H * scale;
  const out = new Float32Array(3 * ow * oh);
  const cols = Math.ceil(W / opts.tile);
  const rows = Math.ceil(H / opts.tile);
  const total = cols * rows;
  let done = 0;
  for (let ty = 0; ty < rows; ty++) {
    for (let tx = 0; tx < cols; tx++) {
      opts.signal?.throwIfAborted();
      const x0 = tx * opts.tile;
      const y0 = ty * opts.tile;
      const x1 = Math.min(W, x0 + opts.tile);
      const y1 = Math.min(H, y0 + opts.tile);
      const px0 = x0 - opts.pad;
      const py0 = y0 - opts.pad;
      const pw = x1 - x0 + 2 * opts.pad;
      const ph = y1 - y0 + 2 * opts.pad;
      const result = await run({ data: crop(image, px0, py0, pw, ph), width: pw, height: ph });
      // Keep the centre: output pixels of [x0, x1) × [y0, y1).
      const cw = (x1 - x0) * scale;
      const ch = (y1 - y0) * scale;
      const off = opts.pad * scale;
      for (let c = 0; c < 3; c++) {
        const src = result.data.subarray(c * result.width * result.height);
        const dst = out.subarray(c * ow * oh);
        for (let y = 0; y < ch; y++) {
          const s = (y + off) * result.width + off;
          dst.set(src.subarray(s, s + cw), (y0 * scale + y) * ow + x0 * scale);
        }
      }
      opts.onProgress?.(++done, total);
    }
  }
  return { data: out, width: ow, height: oh };
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

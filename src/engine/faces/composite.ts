/**
 * The face pass's pixel maths, pure: cut an aligned 512² face out of an image, and paste a
 * replacement back through the same transform with the feathered mask, weighted by strength.
 *   aligned(u, v)  = bilinear(image, T⁻¹(u, v))                       (T: image → template)
 *   out(p)         = img(p) + strength · mask(T p) · (replacement(p) − img(p))
 * where replacement(p) is bilinear(restored, T p) for a restoration network, or the faithful
 * model's pixel at p when no face model is installed. strength 0 leaves the image untouched.
 */
import type { Tile } from '../../models/runner.js';
import { apply, FACE_SIZE, faceMask, invert, type Similarity } from './align.js';
import { bilinear } from './detect.js';

/** The 512² aligned face: image sampled (bilinear, edges clamped) at T⁻¹ of each template pixel. */
export function alignedFace(img: Tile, t: Similarity): Tile {
  const inv = invert(t);
  const n = FACE_SIZE * FACE_SIZE;
  const data = new Float32Array(3 * n);
  const plane = img.width * img.height;
  const px = [0, 0, 0];
  for (let v = 0; v < FACE_SIZE; v++)
    for (let u = 0; u < FACE_SIZE; u++) {
      const [x, y] = apply(inv, u, v);
      bilinear(img, plane, x, y, px);
      const i = v * FACE_SIZE + u;
      data[i] = px[0]!;
      data[n + i] = px[1]!;
      data[2 * n + i] = px[2]!;
    }
  return { data, width: FACE_SIZE, height: FACE_SIZE };
}

/**
 * Network outputs overshoot 0..1 a little (Lanczos and GAN ringing); the encoder clips them
 * anyway and the face networks take 0..1, so the pass clips the image first (in place).
 */
export function clip01(img: Tile): void {
  const d = img.data;
  for (let i = 0; i < d.length; i++) d[i] = d[i]! < 0 ? 0 : d[i]! > 1 ? 1 : d[i]!;
}

/** Pixels of `img` (inclusive-exclusive) the template square lands on. */
export function faceRegion(
  t: Similarity,
  width: number,
  height: number,
): { x0: number; y0: number; x1: number; y1: number } {
  const inv = invert(t);
  const corners = [
    apply(inv, 0, 0),
    apply(inv, FACE_SIZE - 1, 0),
    apply(inv, 0, FACE_SIZE - 1),
    apply(inv, FACE_SIZE - 1, FACE_SIZE - 1),
  ];
  return {
    x0: Math.max(0, Math.floor(Math.min(...corners.map((c) => c[0])))),
    y0: Math.max(0, Math.floor(Math.min(...corners.map((c) => c[1])))),
    x1: Math.min(width, Math.ceil(Math.max(...corners.map((c) => c[0]))) + 1),
    y1: Math.min(height, Math.ceil(Math.max(...corners.map((c) => c[1]))) + 1),
  };
}

/** Where a replacement pixel comes from: writes RGB of output pixel (x, y), template point (u, v). */
export type Replacement = (x: number, y: number, u: number, v: number, out: number[]) => void;

/** The restored face, read back through the transform. */
export function fromRestored(restored: Tile): Replacement {
  const plane = restored.width * restored.height;
  return (_x, _y, u, v, out) => bilinear(restored, plane, u, v, out);
}

/** Blend `replacement` into `img` in place under the feathered mask × strength. */
export function pasteFace(img: Tile, t: Similarity, replacement: Replacement, strength: number): void {
  if (!(strength > 0)) return;
  const { width, height, data } = img;
  const plane = width * height;
  const { x0, y0, x1, y1 } = faceRegion(t, width, height);
  const px = [0, 0, 0];
  for (let y = y0; y < y1; y++)
    for (let x = x0; x < x1; x++) {
      const [u, v] = apply(t, x, y);
      const m = faceMask(u, v) * strength;
      if (m === 0) continue;
      replacement(x, y, u, v, px);
      const i = y * width + x;
      for (let c = 0; c < 3; c++) {
        const o = data[c * plane + i]!;
        data[c * plane + i] = o + m * (px[c]! - o);
      }
    }
}

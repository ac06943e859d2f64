/**
 * Face alignment: the similarity transform from a face's 5 landmarks to the FFHQ 512 template
 * GFPGAN and CodeFormer were trained on, and the feathered mask a restored face is pasted back
 * with. Coordinates are pixel indices (x right, y down), as in cv2.warpAffine.
 */
import type { Point } from './detect.js';

/** Side of the aligned face the restoration networks take and give. */
export const FACE_SIZE = 512;

/**
 * facexlib's `face_template` for 512² (FaceRestoreHelper, used by GFPGAN and CodeFormer):
 * left eye, right eye, nose tip, left and right mouth corner.
 */
export const FFHQ_TEMPLATE_512: readonly Point[] = [
  [192.98138, 239.94708],
  [318.90277, 240.1936],
  [256.63416, 314.01935],
  [201.26117, 371.41043],
  [313.08905, 371.15118],
];

/** u = [a −b; b a]·p + [tx, ty]: rotation, uniform scale and shift, no shear or mirror. */
export interface Similarity {
  readonly a: number;
  readonly b: number;
  readonly tx: number;
  readonly ty: number;
}

/**
 * Least-squares similarity taking `src` onto `dst` (closed form: centre both sets, then
 * a = Σ(x·x' + y·y') / Σ|p|², b = Σ(x·y' − y·x') / Σ|p|²). facexlib uses
 * cv2.estimateAffinePartial2D with LMEDS, which for 5 consistent points is the same fit.
 */
export function similarity(src: readonly Point[], dst: readonly Point[]): Similarity {
  if (src.length !== dst.length || src.length < 2) {
    throw new RangeError(
      `similarity needs matching point lists of 2 or more, got ${src.length} and ${dst.length}`,
    );
  }
  const n = src.length;
  const [sx, sy] = [src.reduce((s, p) => s + p[0], 0) / n, src.reduce((s, p) => s + p[1], 0) / n];
  const [dx, dy] = [dst.reduce((s, p) => s + p[0], 0) / n, dst.reduce((s, p) => s + p[1], 0) / n];
  let num1 = 0;
  let num2 = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const [x, y] = [src[i]![0] - sx, src[i]![1] - sy];
    const [u, v] = [dst[i]![0] - dx, dst[i]![1] - dy];
    num1 += x * u + y * v;
    num2 += x * v - y * u;
    den += x * x + y * y;
  }
  if (den === 0) throw new RangeError('similarity: the source points all coincide');
  const a = num1 / den;
  const b = num2 / den;
  return { a, b, tx: dx - (a * sx - b * sy), ty: dy - (b * sx + a * sy) };
}

export function apply(t: Similarity, x: number, y: number): Point {
  return [t.a * x - t.b * y + t.tx, t.b * x + t.a * y + t.ty];
}

export function invert(t: Similarity): Similarity {
  const d = t.a * t.a + t.b * t.b;
  const a = t.a / d;
  const b = -t.b / d;
  return { a, b, tx: -(a * t.tx - b * t.ty), ty: -(b * t.tx + a * t.ty) };
}

/** Feather of the paste-back mask, in template px: 0 within EDGE of the square's border, 1 past EDGE + RAMP. */
export const MASK_EDGE = 16;
export const MASK_RAMP = 48;

/**
 * Weight of template point (u, v) in the paste-back: 1 well inside the 512² square, falling
 * linearly to 0 over MASK_RAMP px towards MASK_EDGE px from its border, 0 beyond. (GFPGAN erodes
 * and blurs a square mask for the same purpose; a linear ramp keeps the composite exact to state.)
 */
export function faceMask(u: number, v: number): number {
  const d = Math.min(u, v, FACE_SIZE - 1 - u, FACE_SIZE - 1 - v);
  const m = (d - MASK_EDGE) / MASK_RAMP;
  return m <= 0 ? 0 : m >= 1 ? 1 : m;
}

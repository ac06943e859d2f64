/**
 * From (input size, requested scale or width/height + fit, model, output cap) derive what the
 * pipeline does: an optional input downscale (oversize policy), the network passes, the exact
 * final size and any crop. Pure arithmetic; the pipeline carries it out.
 */
import { invalidArgument, PixeliftError } from '../errors.js';
import type { ModelEntry } from '../models/catalog.js';

export type Fit = 'contain' | 'cover' | 'fill';
export const FITS: readonly Fit[] = ['contain', 'cover', 'fill'];
export type OversizePolicy = 'reject' | 'downscale_input';
export const OVERSIZE_POLICIES: readonly OversizePolicy[] = ['reject', 'downscale_input'];

export interface Size {
  readonly width: number;
  readonly height: number;
}

export interface PlanRequest {
  /** Upright input size. */
  readonly input: Size;
  /** Output/input ratio in [1, 16]; default 4 (when no width/height). */
  readonly scale?: number;
  readonly width?: number;
  readonly height?: number;
  /** How width+height are met: contain (fit inside), cover (fill, then crop), fill (stretch). */
  readonly fit?: Fit;
  readonly oversize?: OversizePolicy;
  readonly maxOutputMegapixels: number;
  /** A cap on each side of the output as well (a dialect's, e.g. Runware's 4096), px. */
  readonly maxOutputSide?: number;
}

export interface Plan {
  readonly input: Size;
  /** The input after the oversize policy shrank it (equal to `input` otherwise). */
  readonly networkInput: Size;
  /** Native network scales run in order. */
  readonly passes: readonly number[];
  /** Size after the passes. */
  readonly networkOutput: Size;
  /** Size after the final resample (before any crop). */
  readonly resized: Size;
  /** Centre crop of `resized` (fit = cover), else undefined. */
  readonly crop?: { readonly left: number; readonly top: number } & Size;
  readonly output: Size;
  readonly warnings: readonly string[];
}

const MAX_SCALE = 16;

export function plan(req: PlanRequest, model: ModelEntry): Plan {
  const { width: w, height: h } = req.input;
  const warnings: string[] = [];
  let resized: Size;
  let output: Size;
  if (req.width !== undefined || req.height !== undefined) {
    if (req.scale !== undefined) {
      throw new PixeliftError('invalid_argument', {
        param: 'scale',
        message: 'Give either scale or width/height, not both',
      });
    }
    checkSide('width', req.width);
    checkSide('height', req.height);
    const fit = req.fit ?? 'contain';
    if (!FITS.includes(fit)) throw invalidArgument('fit', FITS.join(' | '), fit);
    if (req.width !== undefined && req.height !== undefined) {
      const sx = req.width / w;
      const sy = req.height / h;
      if (fit === 'fill') {
        resized = { width: req.width, height: req.height };
      } else {
        const s = fit === 'contain' ? Math.min(sx, sy) : Math.max(sx, sy);
        resized = {
          width:
            fit === 'cover' ? Math.max(req.width, Math.round(w * s)) : Math.min(req.width, Math.round(w * s)),
          height:
            fit === 'cover'
              ? Math.max(req.height, Math.round(h * s))
              : Math.min(req.height, Math.round(h * s)),
        };
      }
      output = fit === 'cover' ? { width: req.width, height: req.height } : resized;
    } else if (req.width !== undefined) {
      resized = { width: req.width, height: Math.max(1, Math.round((h * req.width) / w)) };
      output = resized;
    } else {
      resized = { width: Math.max(1, Math.round((w * req.height!) / h)), height: req.height! };
      output = resized;
    }
    const ratio = Math.max(resized.width / w, resized.height / h);
    if (ratio > MAX_SCALE) {
      throw invalidArgument(
        'width/height',
        `a size at most ${MAX_SCALE}x the input (${w}x${h})`,
        `${resized.width}x${resized.height}`,
      );
    }
  } else {
    const scale = req.scale ?? 4;
    if (typeof scale !== 'number' || !(scale >= 1 && scale <= MAX_SCALE)) {
      throw invalidArgument('scale', `number in [1, ${MAX_SCALE}]`, scale);
    }
    resized = { width: Math.max(1, Math.round(w * scale)), height: Math.max(1, Math.round(h * scale)) };
    output = resized;
  }

  // The oversize policy: the output cap applies to what is produced, i.e. `resized`.
  let networkInput: Size = req.input;
  const mp = (resized.width * resized.height) / 1e6;
  const side = req.maxOutputSide;
  if (side !== undefined && !(Number.isInteger(side) && side >= 1)) {
    throw invalidArgument('maxOutputSide', 'positive integer', side);
  }
  const tooWide = side !== undefined && (resized.width > side || resized.height > side);
  if (mp > req.maxOutputMegapixels || tooWide) {
    const limit = tooWide ? `${side}x${side} px` : `${req.maxOutputMegapixels} MP`;
    if ((req.oversize ?? 'reject') === 'reject') {
      throw new PixeliftError('output_too_large', {
        width: resized.width,
        height: resized.height,
        megapixels: mp.toFixed(1),
        limit,
      });
    }
    // Shrink the input (and so the output) by the same factor until the output fits, as
    // Runware does for its 4096x4096 cap; report the real sizes.
    const cap = req.maxOutputMegapixels * 1e6;
    const shrink = (s: Size, k: number): Size => ({
      width: Math.max(1, Math.floor(s.width * k)),
      height: Math.max(1, Math.floor(s.height * k)),
    });
    const fits = (s: Size) =>
      s.width * s.height <= cap && (side === undefined || (s.width <= side && s.height <= side));
    let k = Math.min(
      1,
      Math.sqrt(req.maxOutputMegapixels / mp),
      side === undefined ? 1 : side / Math.max(resized.width, resized.height),
    );
    while (!fits(shrink(resized, k))) k *= 0.999; // flooring can overshoot
    networkInput = shrink(req.input, k);
    const next = { resized: shrink(resized, k), output: shrink(output, k) };
    warnings.push(
      `The output would have been ${resized.width}x${resized.height} (${mp.toFixed(1)} MP), above the ${limit} limit; the input was downscaled from ${w}x${h} to ${networkInput.width}x${networkInput.height} and the output is ${next.output.width}x${next.output.height}.`,
    );
    resized = next.resized;
    output = next.output;
  }

  const need = Math.max(resized.width / networkInput.width, resized.height / networkInput.height);
  const passes = model.source.format === 'classical' ? [] : planPasses(model.scales, need);
  const total = passes.reduce((a, b) => a * b, 1);
  const networkOutput = { width: networkInput.width * total, height: networkInput.height * total };
  const crop =
    output.width !== resized.width || output.height !== resized.height
      ? {
          left: Math.floor((resized.width - output.width) / 2),
          top: Math.floor((resized.height - output.height) / 2),
          width: output.width,
          height: output.height,
        }
      : undefined;
  return { input: req.input, networkInput, passes, networkOutput, resized, crop, output, warnings };
}

/**
 * Native passes whose product reaches `need`: the smallest native scale that covers what is
 * left, else the largest and repeat (8x on a 4x-only model = 4x then 4x, resampled down;
 * on a 2/3/4/8x model 8x is one pass, 3x is one pass). A need of at most 1 runs no network.
 */
export function planPasses(scales: readonly number[], need: number): number[] {
  const natives = [...scales].filter((s) => s > 1).sort((a, b) => a - b);
  const passes: number[] = [];
  if (natives.length === 0) return passes;
  let reached = 1;
  // A hair of tolerance so 2.9999 (from rounding sizes) does not trigger a second pass.
  while (reached * 1.001 < need) {
    const left = need / reached;
    const s = natives.find((n) => n * 1.001 >= left) ?? natives[natives.length - 1]!;
    passes.push(s);
    reached *= s;
  }
  return passes;
}

function checkSide(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535)) {
    throw invalidArgument(name, 'integer in [1, 65535]', v);
  }
}

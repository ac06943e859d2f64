/**
 * One image through one model (DESIGN §4): decode upright in sRGB → plan passes → tiled
 * inference → exact-size resample → encode. Alpha is upscaled separately (Lanczos) and
 * recombined. Pure of HTTP and jobs; the CLI and (later) the worker pool call it.
 */
import sharp, { type Sharp } from 'sharp';
import { invalidArgument, PixeliftError } from '../errors.js';
import type { ModelEntry } from '../models/catalog.js';
import type { Tile } from '../models/runner.js';
import { defaultScale, type ModelStore } from '../models/store.js';
import { runTiled } from './tiles.js';

export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp', 'avif', 'tiff'];

export interface UpscaleOptions {
  /** Model id or provider alias; default: the best installed general model. */
  readonly model?: string;
  /** Output / input size ratio, any float in [1, 16]; default: the model's native scale. */
  readonly scale?: number;
  readonly format?: OutputFormat;
  /** 1..100 for lossy formats. */
  readonly quality?: number;
  /** Tile side in input pixels. */
  readonly tile?: number;
}

export interface UpscaleHooks {
  readonly signal?: AbortSignal;
  /** Fraction 0..1 of the inference work done. */
  readonly onProgress?: (fraction: number) => void;
}

export interface UpscaleInfo {
  readonly input: { readonly width: number; readonly height: number; readonly format: string | undefined };
  readonly output: { readonly width: number; readonly height: number; readonly format: OutputFormat };
  readonly model: { readonly requested: string; readonly used: string };
  /** Native network scales run in order (empty for classical resampling). */
  readonly passes: readonly number[];
  readonly tile: number;
  readonly device: string;
  readonly timings: { readonly decodeMs: number; readonly inferMs: number; readonly encodeMs: number };
  readonly warnings: readonly string[];
}

export interface UpscaleResult {
  readonly data: Buffer;
  readonly info: UpscaleInfo;
}

/**
 * Context pixels around each tile. Real-ESRGAN uses 10, which leaves visible seams: measured
 * here on a 50x37 test pattern (tile 16), realesrgan-x4fast's tiled output differs from its
 * whole-image output by up to 43/255 with 12 px, 1.2/255 with 24 px and 0 with 32 px (its
 * receptive field is 34 convolutions deep). realesrgan-x4plus (~350 deep) still differs by up
 * to 31/255 with 48 px; that needs feathered overlap blending (engine issue).
 */
export const TILE_PAD = 32;
export const DEFAULT_TILE = 256;
/** Input limits checked from the header before any pixel is decoded. */
export const LIMITS = { maxInputPixels: 50e6, maxSide: 16384, maxOutputPixels: 128e6 };

export async function upscaleImage(
  store: ModelStore,
  input: Buffer | string,
  options: UpscaleOptions = {},
  hooks: UpscaleHooks = {},
): Promise<UpscaleResult> {
  const resolved = store.resolve(options.model);
  const model = resolved.model;
  const format = options.format ?? 'png';
  if (!OUTPUT_FORMATS.includes(format)) throw invalidArgument('format', OUTPUT_FORMATS.join(' | '), format);
  const tile = options.tile ?? DEFAULT_TILE;
  if (!Number.isInteger(tile) || tile < 16 || tile > 2048)
    throw invalidArgument('tile', 'integer in [16, 2048]', tile);
  const t0 = performance.now();

  const meta = await sharp(input, { limitInputPixels: LIMITS.maxInputPixels })
    .metadata()
    .catch((err: Error) => {
      throw new PixeliftError(
        'image_unreadable',
        { file: typeof input === 'string' ? input : '(buffer)', reason: err.message },
        { cause: err },
      );
    });
  const upright = (meta.orientation ?? 1) >= 5;
  const width = upright ? meta.height : meta.width;
  const height = upright ? meta.width : meta.height;
  if (!width || !height) throw invalidArgument('input', 'an image', 'unreadable data');
  if (width > LIMITS.maxSide || height > LIMITS.maxSide) {
    throw invalidArgument('input', `sides of at most ${LIMITS.maxSide} px`, `${width}x${height}`);
  }
  // 4x unless the model cannot do 4x natively (then its largest native scale).
  const scale = options.scale ?? (model.source.format === 'classical' ? 4 : defaultScale(model));
  if (!(scale >= 1 && scale <= 16)) throw invalidArgument('scale', 'number in [1, 16]', scale);
  const outW = Math.round(width * scale);
  const outH = Math.round(height * scale);
  if (outW * outH > LIMITS.maxOutputPixels) {
    throw invalidArgument(
      'scale',
      `an output of at most ${LIMITS.maxOutputPixels / 1e6} MP`,
      `${outW}x${outH}`,
    );
  }

  const { data: raw, info: rawInfo } = await sharp(input, { limitInputPixels: LIMITS.maxInputPixels })
    .rotate()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  const channels = rawInfo.channels;
  const hasAlpha = channels === 4 || channels === 2;
  let rgb: Tile = { data: toPlanarRgb(raw, width, height, channels), width, height };
  const decodeMs = performance.now() - t0;

  const t1 = performance.now();
  const passes = model.source.format === 'classical' ? [] : planPasses(model, scale);
  let device = 'cpu';
  let done = 0;
  for (const s of passes) {
    const runner = await store.open(model.id, s);
    device = runner.device;
    const base = done;
    rgb = await runTiled(rgb, s, (t) => runner.run(t), {
      tile,
      pad: TILE_PAD,
      signal: hooks.signal,
      onProgress: (d, total) => hooks.onProgress?.((base + d / total) / passes.length),
    });
    done++;
  }
  const inferMs = performance.now() - t1;

  const t2 = performance.now();
  const kernel =
    model.source.format === 'classical' && model.source.kernel === 'cubic' ? 'cubic' : 'lanczos3';
  // The network's float output goes to sharp as 16-bit so the final resample loses nothing.
  let image = sharp(toInterleaved16(rgb), { raw: { width: rgb.width, height: rgb.height, channels: 3 } });
  if (rgb.width !== outW || rgb.height !== outH) image = image.resize(outW, outH, { kernel, fit: 'fill' });
  const rgb8 = await image.toColourspace('srgb').raw().toBuffer();
  let final = sharp(rgb8, { raw: { width: outW, height: outH, channels: 3 } });
  if (hasAlpha) {
    const alpha = await sharp(raw, { raw: { width, height, channels } })
      .extractChannel((channels - 1) as 1 | 3)
      .resize(outW, outH, { kernel: 'lanczos3', fit: 'fill' })
      .raw()
      .toBuffer();
    final = final.joinChannel(alpha, { raw: { width: outW, height: outH, channels: 1 } });
  }
  const warnings = [...resolved.warnings];
  if (hasAlpha && format === 'jpeg')
    warnings.push('JPEG cannot hold transparency; alpha was flattened onto black.');
  const data = await encode(final, format, options.quality);
  const encodeMs = performance.now() - t2;

  return {
    data,
    info: {
      input: { width, height, format: meta.format },
      output: { width: outW, height: outH, format },
      model: { requested: resolved.requested, used: model.id },
      passes,
      tile,
      device,
      timings: {
        decodeMs: Math.round(decodeMs),
        inferMs: Math.round(inferMs),
        encodeMs: Math.round(encodeMs),
      },
      warnings,
    },
  };
}

/**
 * Native passes whose product reaches `scale`: the smallest native scale that covers what is
 * left, else the largest and repeat (8x on a 4x-only model = 4x then 4x, resampled down).
 */
export function planPasses(model: ModelEntry, scale: number): number[] {
  const natives = [...model.scales].sort((a, b) => a - b);
  const passes: number[] = [];
  let reached = 1;
  while (reached < scale - 1e-9) {
    const left = scale / reached;
    const s = natives.find((n) => n >= left - 1e-9) ?? natives[natives.length - 1]!;
    passes.push(s);
    reached *= s;
  }
  return passes;
}

async function encode(image: Sharp, format: OutputFormat, quality?: number): Promise<Buffer> {
  if (quality !== undefined && (!Number.isInteger(quality) || quality < 1 || quality > 100)) {
    throw invalidArgument('quality', 'integer in [1, 100]', quality);
  }
  switch (format) {
    case 'png':
      return image.png().toBuffer();
    case 'jpeg':
      return image
        .flatten({ background: '#000000' })
        .jpeg({ quality: quality ?? 90 })
        .toBuffer();
    case 'webp':
      return image.webp({ quality: quality ?? 90 }).toBuffer();
    case 'avif':
      return image.avif({ quality: quality ?? 60 }).toBuffer();
    case 'tiff':
      return image.tiff({ quality: quality ?? 90 }).toBuffer();
    default:
      throw new PixeliftError('invalid_argument', { param: 'format', message: `unknown format ${format}` });
  }
}

function toPlanarRgb(raw: Buffer, width: number, height: number, channels: number): Float32Array {
  const n = width * height;
  const out = new Float32Array(3 * n);
  const gray = channels < 3;
  for (let i = 0; i < n; i++) {
    const p = i * channels;
    out[i] = raw[p]! / 255;
    out[n + i] = raw[gray ? p : p + 1]! / 255;
    out[2 * n + i] = raw[gray ? p : p + 2]! / 255;
  }
  return out;
}

/** Planar float 0..1 → interleaved 16-bit, so the final resample loses nothing to rounding. */
function toInterleaved16(t: Tile): Uint16Array {
  const n = t.width * t.height;
  const out = new Uint16Array(3 * n);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const v = t.data[c * n + i]!;
      out[3 * i + c] = v <= 0 ? 0 : v >= 1 ? 65535 : Math.round(v * 65535);
    }
  }
  return out;
}

/**
 * Decoding (DESIGN §4): header checks against the limits, then upright planar float pixels.
 *
 * Colour: RGB and grey sources keep their own pixel encoding (no conversion; `ignoreIcc`),
 * and encode re-attaches their ICC profile, so colours survive exactly. Other spaces (CMYK,
 * Lab, …) are converted to sRGB, through their embedded profile where they have one.
 * 16-bit sources are read at 16 bits. Multi-frame inputs give their first frame.
 */
import fs from 'node:fs/promises';
import sharp, { type Metadata } from 'sharp';
import type { Limits } from '../config.js';
import { PixeliftError } from '../errors.js';

export interface SourceInfo {
  /** sharp's format name: png, jpeg, webp, gif, tiff, heif (AVIF and HEIC), … */
  format: string;
  /** Upright size, after EXIF orientation. */
  width: number;
  height: number;
  /** EXIF orientation as stored, 1..8 (1 when absent). */
  orientation: number;
  /** Channels as stored (4 for CMYK, 2 for grey + alpha, …). */
  channels: number;
  /** Bits per channel of the source. */
  depth: 8 | 16;
  /** sharp's `space`: srgb, rgb16, b-w, grey16, cmyk, lab, … */
  space: string;
  gray: boolean;
  hasAlpha: boolean;
  palette: boolean;
  /** Frames or pages (animated GIF/WebP, multi-page TIFF); 1 otherwise. */
  pages: number;
  /**
   * True when decode converts the pixels to sRGB (CMYK, Lab, …, anything not RGB or grey);
   * encode then attaches an sRGB profile instead of `icc`.
   */
  toSrgb: boolean;
  /** HEIF only: `av1` (AVIF) or `hevc` (HEIC). */
  compression?: string;
  icc?: Buffer;
  exif?: Buffer;
  xmp?: Buffer;
  /** Pixels per inch, when the source says. */
  density?: number;
}

export interface DecodedImage {
  /** Planar CHW, 3 planes (grey expanded), values 0..1, upright. */
  rgb: Float32Array;
  /** One plane, 0..1, when the source has alpha. */
  alpha?: Float32Array;
  width: number;
  height: number;
  source: SourceInfo;
  warnings: string[];
}

/** Spaces whose pixel values are kept as they are (their profile, if any, goes back on at encode). */
const KEPT_SPACES = new Set(['srgb', 'rgb', 'rgb16', 'b-w', 'grey16']);
const GRAY_SPACES = new Set(['b-w', 'grey16']);

/**
 * Reads the header only and checks it against the limits: bytes first (no parsing at all),
 * then megapixels and sides. Throws image_too_large or image_unreadable.
 */
export async function probe(input: Buffer | string, limits: Limits): Promise<SourceInfo> {
  const file = describe(input);
  const bytes = typeof input === 'string' ? await fileSize(input) : input.length;
  if (bytes > limits.maxInputBytes) {
    throw new PixeliftError('image_too_large', {
      reason: `the input is ${bytes} bytes, above the limit of ${limits.maxInputBytes} bytes`,
      bytes,
      limit: limits.maxInputBytes,
    });
  }
  let meta: Metadata;
  try {
    // No pixel limit here: metadata() reads the header only (measured: a PNG claiming
    // 100000x100000 costs under 1 MB), and sharp's own limit would answer with its words, not ours.
    meta = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw unreadable(file, err);
  }
  if (!meta.width || !meta.height) throw unreadable(file, new Error('the header has no dimensions'));
  const { width, height } = meta.autoOrient;
  checkDimensions(width, height, limits);
  const space = String(meta.space);
  const info: SourceInfo = {
    format: meta.format,
    width,
    height,
    orientation: meta.orientation ?? 1,
    channels: meta.channels,
    depth: meta.depth === 'uchar' || meta.depth === 'char' ? 8 : 16,
    space,
    gray: GRAY_SPACES.has(space),
    hasAlpha: meta.hasAlpha,
    palette: meta.isPalette,
    pages: meta.pages ?? 1,
    toSrgb: !KEPT_SPACES.has(space),
  };
  if (meta.compression !== undefined) info.compression = meta.compression;
  if (meta.icc !== undefined) info.icc = meta.icc;
  if (meta.exif !== undefined) info.exif = meta.exif;
  if (meta.xmp !== undefined) info.xmp = meta.xmp;
  if (meta.density !== undefined) info.density = meta.density;
  return info;
}

/** Probes (limits first), then decodes the first frame upright into planar floats. */
export async function decode(input: Buffer | string, limits: Limits): Promise<DecodedImage> {
  const source = await probe(input, limits);
  const sixteen = source.depth === 16;
  const target = source.gray && !source.toSrgb ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  let data: Buffer;
  let channels: number;
  try {
    const out = await sharp(input, {
      // Second line of defence, should the input change between probe and decode.
      limitInputPixels: Math.max(1, Math.floor(limits.maxInputMegapixels * 1e6)),
      // 'error' rejects truncated and corrupt data (measured on PNG and JPEG cut in half) but
      // lets through benign warnings such as a JPEG's extraneous bytes before a marker.
      failOn: 'error',
      // Kept spaces: the pixels stay in their own encoding. sharp would otherwise convert
      // through the profile to sRGB (to P3 for 16-bit input).
      ignoreIcc: !source.toSrgb,
    })
      .autoOrient()
      .toColourspace(target)
      .raw({ depth: sixteen ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
    data = out.data;
    channels = out.info.channels;
    if (out.info.width !== source.width || out.info.height !== source.height) {
      throw new Error(
        `decoded ${out.info.width}x${out.info.height}, but the header said ${source.width}x${source.height}`,
      );
    }
  } catch (err) {
    throw unreadable(describe(input), err, source);
  }

  const n = source.width * source.height;
  const samples: Uint8Array | Uint16Array = sixteen ? asUint16(data) : data;
  const { rgb, alpha } = toPlanar(samples, n, channels, sixteen ? 65535 : 255);
  const warnings: string[] = [];
  if (source.toSrgb) {
    warnings.push(
      `The image is ${source.space.toUpperCase()}; it was converted to sRGB` +
        `${source.icc ? ' through its embedded ICC profile' : ''}, and the output carries an sRGB profile.`,
    );
  }
  if (source.pages > 1) {
    warnings.push(
      `The ${source.format} has ${source.pages} frames; only the first was decoded (${source.pages - 1} dropped).`,
    );
  }
  const image: DecodedImage = { rgb, width: source.width, height: source.height, source, warnings };
  if (alpha) image.alpha = alpha;
  return image;
}

function checkDimensions(width: number, height: number, limits: Limits): void {
  if (width * height > limits.maxInputMegapixels * 1e6) {
    const megapixels = (width * height) / 1e6;
    throw new PixeliftError('image_too_large', {
      reason: `${width}x${height} is ${round(megapixels)} MP, above the limit of ${limits.maxInputMegapixels} MP`,
      width,
      height,
      limit: limits.maxInputMegapixels,
    });
  }
  if (width > limits.maxSide || height > limits.maxSide) {
    throw new PixeliftError('image_too_large', {
      reason: `${width}x${height} has a side longer than the limit of ${limits.maxSide} px`,
      width,
      height,
      limit: limits.maxSide,
    });
  }
}

/**
 * Interleaved samples (1 grey, 2 grey + alpha, 3 RGB, 4 RGBA) to planar floats in 0..1.
 * 8-bit goes through a 256-entry table; 16-bit multiplies (both exact to well under half a step).
 */
function toPlanar(
  samples: Uint8Array | Uint16Array,
  n: number,
  channels: number,
  max: number,
): { rgb: Float32Array; alpha?: Float32Array } {
  const rgb = new Float32Array(3 * n);
  const hasAlpha = channels === 2 || channels === 4;
  const alpha = hasAlpha ? new Float32Array(n) : undefined;
  const colours = hasAlpha ? channels - 1 : channels;
  const lut = max === 255 ? Float32Array.from({ length: 256 }, (_, v) => v / 255) : undefined;
  const scale = 1 / max;
  const r = rgb.subarray(0, n);
  const g = rgb.subarray(n, 2 * n);
  const b = rgb.subarray(2 * n);
  for (let i = 0, p = 0; i < n; i++, p += channels) {
    if (colours === 1) {
      const v = lut ? lut[samples[p]!]! : samples[p]! * scale;
      r[i] = v;
      g[i] = v;
      b[i] = v;
    } else if (lut) {
      r[i] = lut[samples[p]!]!;
      g[i] = lut[samples[p + 1]!]!;
      b[i] = lut[samples[p + 2]!]!;
    } else {
      r[i] = samples[p]! * scale;
      g[i] = samples[p + 1]! * scale;
      b[i] = samples[p + 2]! * scale;
    }
    if (alpha) alpha[i] = lut ? lut[samples[p + colours]!]! : samples[p + colours]! * scale;
  }
  return alpha ? { rgb, alpha } : { rgb };
}

/** sharp returns 16-bit raw pixels as native-endian bytes; view them without copying when aligned. */
function asUint16(data: Buffer): Uint16Array {
  if (data.byteOffset % 2 === 0) return new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
  return new Uint16Array(Uint8Array.prototype.slice.call(data).buffer);
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (err) {
    throw unreadable(file, err);
  }
}

function describe(input: Buffer | string): string {
  return typeof input === 'string' ? input : '(buffer)';
}

function unreadable(file: string, err: unknown, source?: SourceInfo): PixeliftError {
  let reason = sharpReason(err);
  if (source?.format === 'heif' && source.compression === 'hevc') {
    // The prebuilt sharp links libheif with an AV1 decoder only; HEVC needs libde265, which it
    // leaves out for patent reasons. sharp says: "Support for this compression format has not
    // been built in: HEVC (a suitable decoder plugin is libde265)".
    reason =
      'it is HEIC (HEVC-coded HEIF), which this build of sharp/libvips cannot decode (it decodes AVIF ' +
      `but has no HEVC decoder); convert it to JPEG, PNG or AVIF first (libheif: ${reason})`;
  }
  return new PixeliftError('image_unreadable', { file, reason }, { cause: err });
}

/** libvips error text without its "source: bad seek to N" probe lines. */
function sharpReason(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !/^source: bad seek/.test(l));
  return lines.join('; ') || text;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

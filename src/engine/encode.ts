/**
 * Encoding (DESIGN §4): planar float pixels back to png, jpeg, webp, avif or tiff, with the
 * source's ICC profile always re-attached and its EXIF/XMP kept on request.
 *
 * The profile goes on as bytes, not through sharp's colour management (see metadata.ts): PNG
 * output gets an iCCP chunk written into it; other formats are encoded from a PNG carrier that
 * holds the profile and EXIF, which sharp keeps with `keepIccProfile()` / `keepExif()`.
 */
import sharp, { type Sharp } from 'sharp';
import { invalidArgument, PixeliftError } from '../errors.js';
import type { SourceInfo } from './decode.js';
import {
  exifChunk,
  exifWithOrientation1,
  iccpChunk,
  insertPngChunks,
  xmpWithOrientation1,
} from './metadata.js';

export type OutputFormat = 'png' | 'jpeg' | 'webp' | 'avif' | 'tiff';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['png', 'jpeg', 'webp', 'avif', 'tiff'];

export interface EncodeOptions {
  format: OutputFormat;
  /**
   * 1..100 for jpeg, webp and avif. For tiff it selects JPEG compression inside the TIFF (8-bit,
   * no alpha); without it TIFF is lossless (deflate). Ignored by png and by lossless output.
   */
  quality?: number;
  /** jpeg: progressive scan; png: Adam7 interlace. */
  progressive?: boolean;
  /** webp / avif; png and tiff are lossless anyway, jpeg cannot be. */
  lossless?: boolean;
  /** Default: 16 when the source is 16-bit and the format holds it (png, tiff), else 8. */
  bitDepth?: 8 | 16;
  /** Write the source's EXIF and XMP (orientation reset to 1: the pixels are upright). Default false. */
  keepMetadata?: boolean;
  /** The colour JPEG flattens alpha onto. Default '#ffffff'. */
  background?: string;
}

/**
 * RGB already interleaved at 16 bits (what the last tiled pass can write directly): a 96 MP
 * output then needs 6 bytes a pixel instead of 12 for planar float plus 3 for the copy.
 */
export interface Interleaved16Image {
  rgb16: Uint16Array;
  width: number;
  height: number;
}

export interface PlanarImage {
  /** Planar CHW, 3 planes, 0..1. */
  rgb: Float32Array;
  /** One plane, 0..1. */
  alpha?: Float32Array;
  width: number;
  height: number;
}

export interface EncodedImage {
  data: Buffer;
  warnings: string[];
  bitDepth: 8 | 16;
}

/** Defaults where the caller gives no quality (tiff has none: without one it is lossless). */
const DEFAULT_QUALITY = { jpeg: 90, webp: 90, avif: 60 } as const;
/** Level 0 keeps the carrier PNG cheap: it is decoded again at once. */
const CARRIER_PNG = { compressionLevel: 0, adaptiveFiltering: false } as const;

interface Plan {
  format: OutputFormat;
  quality: number | undefined;
  progressive: boolean;
  lossless: boolean;
  bitDepth: 8 | 16;
  keepMetadata: boolean;
  background: string;
  /** jpeg, and tiff with JPEG compression: no alpha, 8-bit only. */
  jpegCoded: boolean;
}

export async function encode(
  image: PlanarImage | Interleaved16Image,
  source: SourceInfo,
  options: EncodeOptions,
): Promise<EncodedImage> {
  checkImage(image);
  const plan = resolveOptions(options, source);
  const warnings: string[] = [];
  const { width, height } = image;
  const sixteen = plan.bitDepth === 16;
  // Grey sources go out grey: their profile (if any) is a grey one, which RGB output cannot carry.
  const gray = source.gray && !source.toSrgb;
  const hasAlpha = 'alpha' in image && image.alpha !== undefined;
  const space = gray ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
  const channels = ((gray ? 1 : 3) + (hasAlpha ? 1 : 0)) as 1 | 2 | 3 | 4;

  // Our own pixels, already within the output cap (plan.ts): sharp's default input limit
  // (0x3FFF² ≈ 268 MP) would refuse a 16 MP photo's 4× output just above 16384² px.
  const raw = { limitInputPixels: false as const };
  let pipeline =
    'rgb16' in image
      ? sharp(image.rgb16, { ...raw, raw: { width, height, channels: 3 } }).toColourspace(space)
      : sharp(toInterleaved(image, gray, sixteen), {
          ...raw,
          raw: { width, height, channels },
        }).toColourspace(space);
  if (hasAlpha && plan.jpegCoded) {
    pipeline = flatten(pipeline, plan.background);
    warnings.push(
      `${plan.format === 'jpeg' ? 'JPEG' : 'JPEG-compressed TIFF'} cannot hold transparency; ` +
        `alpha was flattened onto ${plan.background}.`,
    );
  }

  const icc = source.toSrgb ? await srgbProfile() : source.icc;
  const exif = plan.keepMetadata && source.exif ? exifWithOrientation1(source.exif) : undefined;
  const xmp =
    plan.keepMetadata && source.xmp && source.xmp.length > 0
      ? xmpWithOrientation1(source.xmp.toString('utf8'))
      : undefined;
  const chunks: Buffer[] = [];
  if (icc) chunks.push(iccpChunk(icc));
  if (exif) chunks.push(exifChunk(exif));
  if (exif && plan.format === 'tiff') {
    // libvips' tiffsave writes no EXIF IFD (sharp documents keepExif as unsupported for TIFF).
    warnings.push('TIFF output carries no EXIF (libvips cannot write it); XMP and the ICC profile are kept.');
  }

  const data = await run(plan.format, async () => {
    if (plan.format === 'png') {
      if (xmp) pipeline = pipeline.withXmp(xmp);
      const png = await pipeline.png({ progressive: plan.progressive }).toBuffer();
      return insertPngChunks(png, chunks);
    }
    if (chunks.length > 0) {
      const carrier = insertPngChunks(await pipeline.png(CARRIER_PNG).toBuffer(), chunks);
      pipeline = sharp(carrier, { limitInputPixels: false }).keepIccProfile().toColourspace(space);
      // Only with EXIF to keep: keepExif() on an image without any makes libvips write a fresh block.
      if (exif) pipeline = pipeline.keepExif();
    }
    if (xmp) pipeline = pipeline.withXmp(xmp);
    return formatted(pipeline, plan).toBuffer();
  });
  return { data, warnings, bitDepth: plan.bitDepth };
}

function formatted(pipeline: Sharp, plan: Plan): Sharp {
  switch (plan.format) {
    case 'png':
      return pipeline.png({ progressive: plan.progressive });
    case 'jpeg':
      return pipeline.jpeg({ quality: plan.quality ?? DEFAULT_QUALITY.jpeg, progressive: plan.progressive });
    case 'webp':
      // exact: keep the RGB under fully transparent pixels, so lossless really is lossless.
      return plan.lossless
        ? pipeline.webp({ lossless: true, exact: true })
        : pipeline.webp({ quality: plan.quality ?? DEFAULT_QUALITY.webp });
    case 'avif':
      return plan.lossless
        ? pipeline.avif({ lossless: true })
        : pipeline.avif({ quality: plan.quality ?? DEFAULT_QUALITY.avif });
    case 'tiff':
      // sharp's TIFF default is JPEG compression (8-bit, alpha dropped); lossless deflate
      // unless a quality asks for JPEG.
      return plan.jpegCoded
        ? pipeline.tiff({ compression: 'jpeg', quality: plan.quality! })
        : pipeline.tiff({ compression: 'deflate', predictor: 'horizontal' });
  }
}

function resolveOptions(options: EncodeOptions, source: SourceInfo): Plan {
  const { format } = options;
  if (!OUTPUT_FORMATS.includes(format)) throw invalidArgument('format', OUTPUT_FORMATS.join(' | '), format);
  const { quality } = options;
  if (quality !== undefined && !(Number.isInteger(quality) && quality >= 1 && quality <= 100)) {
    throw invalidArgument('quality', 'integer in [1, 100]', quality);
  }
  const lossless = options.lossless ?? false;
  if (typeof lossless !== 'boolean') throw invalidArgument('lossless', 'boolean', lossless);
  if (lossless && format === 'jpeg')
    throw invalidArgument('lossless', 'false for jpeg (it has no lossless mode)', true);
  const jpegCoded = format === 'jpeg' || (format === 'tiff' && quality !== undefined && !lossless);
  const holds16 = (format === 'png' || format === 'tiff') && !jpegCoded;
  const { bitDepth } = options;
  if (bitDepth !== undefined && bitDepth !== 8 && bitDepth !== 16)
    throw invalidArgument('bitDepth', '8 or 16', bitDepth);
  if (bitDepth === 16 && !holds16) {
    throw invalidArgument(
      'bitDepth',
      `8 for ${jpegCoded && format === 'tiff' ? 'JPEG-compressed tiff' : format}`,
      16,
    );
  }
  const background = options.background ?? '#ffffff';
  if (typeof background !== 'string') throw invalidArgument('background', 'colour string', background);
  return {
    format,
    quality,
    progressive: options.progressive ?? false,
    lossless,
    bitDepth: bitDepth ?? (source.depth === 16 && holds16 ? 16 : 8),
    keepMetadata: options.keepMetadata ?? false,
    background,
    jpegCoded,
  };
}

function checkImage(image: PlanarImage | Interleaved16Image): void {
  const { width, height } = image;
  if (!Number.isInteger(width) || width < 1) throw invalidArgument('width', 'positive integer', width);
  if (!Number.isInteger(height) || height < 1) throw invalidArgument('height', 'positive integer', height);
  const n = width * height;
  if ('rgb16' in image) {
    if (image.rgb16.length !== 3 * n) {
      throw invalidArgument(
        'rgb16',
        `Uint16Array of ${width} x ${height} x 3 = ${3 * n} values`,
        image.rgb16.length,
      );
    }
    return;
  }
  if (image.rgb.length !== 3 * n) {
    throw invalidArgument(
      'rgb',
      `Float32Array of 3 x ${width} x ${height} = ${3 * n} values`,
      image.rgb.length,
    );
  }
  if (image.alpha && image.alpha.length !== n) {
    throw invalidArgument('alpha', `Float32Array of ${width} x ${height} = ${n} values`, image.alpha.length);
  }
}

function flatten(pipeline: Sharp, background: string): Sharp {
  try {
    return pipeline.flatten({ background });
  } catch {
    // sharp parses the colour here, synchronously.
    throw invalidArgument('background', 'CSS colour such as "#ffffff"', background);
  }
}

/**
 * Planar floats to interleaved integers, rounded and clamped (NaN → 0). Grey output averages
 * the three planes (a grey source's planes are equal until the network makes them differ).
 */
function toInterleaved(image: PlanarImage, gray: boolean, sixteen: boolean): Uint8Array | Uint16Array {
  const { rgb, alpha } = image;
  const n = image.width * image.height;
  const max = sixteen ? 65535 : 255;
  const channels = (gray ? 1 : 3) + (alpha ? 1 : 0);
  const out = sixteen ? new Uint16Array(n * channels) : new Uint8Array(n * channels);
  const r = rgb.subarray(0, n);
  const g = rgb.subarray(n, 2 * n);
  const b = rgb.subarray(2 * n);
  const q = (x: number) => (x > 0 ? (x < 1 ? (x * max + 0.5) | 0 : max) : 0);
  for (let i = 0, p = 0; i < n; i++) {
    if (gray) {
      out[p++] = q((r[i]! + g[i]! + b[i]!) / 3);
    } else {
      out[p++] = q(r[i]!);
      out[p++] = q(g[i]!);
      out[p++] = q(b[i]!);
    }
    if (alpha) out[p++] = q(alpha[i]!);
  }
  return out;
}

let srgbIcc: Promise<Buffer> | undefined;
/** sharp's built-in sRGB profile as bytes, for sources decode converted to sRGB. */
function srgbProfile(): Promise<Buffer> {
  srgbIcc ??= sharp({ create: { width: 1, height: 1, channels: 3, background: '#000000' } })
    .withIccProfile('srgb')
    .png()
    .toBuffer()
    .then(async (png) => {
      const { icc } = await sharp(png).metadata();
      if (!icc) throw new Error('sharp attached no sRGB profile');
      return icc;
    })
    .catch((err: unknown) => {
      srgbIcc = undefined;
      throw err;
    });
  return srgbIcc;
}

async function run(format: OutputFormat, work: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PixeliftError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    throw new PixeliftError('internal', { message: `encoding ${format} failed: ${message}` }, { cause: err });
  }
}

/**
 * Byte-level metadata edits that sharp has no API for.
 *
 * sharp 0.35 can keep an input's ICC profile (`keepIccProfile`) but cannot attach an arbitrary
 * profile to raw pixels: `withIccProfile(path)` converts the pixels from sRGB into that profile
 * first (measured: P3 red 234,51,34 became 215,69,49). So encode writes the profile (and EXIF)
 * as PNG chunks itself, and for other formats hands sharp a PNG that carries them.
 *
 * Orientation: decoded pixels are upright, so kept EXIF and XMP must say orientation 1, or a
 * viewer would rotate the image a second time.
 */
import zlib from 'node:zlib';

const PNG_SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
/** Signature (8) + IHDR chunk (4 length + 4 type + 13 data + 4 CRC). */
const AFTER_IHDR = 8 + 4 + 4 + 13 + 4;
/** "Exif\0\0": the APP1 prefix JPEG and WebP carry before the TIFF structure; PNG's eXIf has none. */
const EXIF_PREFIX = Buffer.from('Exif\0\0', 'latin1');
const ORIENTATION_TAG = 0x0112;
const TYPE_SHORT = 3;

// CRC-32 (ISO 3309, as PNG uses) from a table: zlib.crc32 only exists from Node 20.15, and
// package.json allows Node 20 from 20.9.
const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One PNG chunk: length, type, data, CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** iCCP: profile name, NUL, compression method 0 (zlib), the deflated profile. */
export function iccpChunk(icc: Uint8Array): Buffer {
  return pngChunk('iCCP', Buffer.concat([Buffer.from('icc\0\0', 'latin1'), zlib.deflateSync(icc)]));
}

/** eXIf: the TIFF structure without the "Exif\0\0" prefix. */
export function exifChunk(exif: Buffer): Buffer {
  return pngChunk('eXIf', stripExifPrefix(exif));
}

/**
 * Inserts chunks right after IHDR, where iCCP and eXIf must go (before PLTE and IDAT, PNG 3rd
 * edition §5.6).
 */
export function insertPngChunks(png: Buffer, chunks: readonly Buffer[]): Buffer {
  if (!png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new Error('insertPngChunks expects a PNG that starts with IHDR');
  }
  if (chunks.length === 0) return png;
  return Buffer.concat([png.subarray(0, AFTER_IHDR), ...chunks, png.subarray(AFTER_IHDR)]);
}

function stripExifPrefix(exif: Buffer): Buffer {
  return exif.subarray(0, 6).equals(EXIF_PREFIX) ? exif.subarray(6) : exif;
}

/**
 * A copy of the EXIF block with IFD0's Orientation set to 1 (the prefix, if any, kept). Blocks
 * that are not a TIFF structure, or have no orientation, come back unchanged.
 */
export function exifWithOrientation1(exif: Buffer): Buffer {
  const out = Buffer.from(exif);
  const start = out.subarray(0, 6).equals(EXIF_PREFIX) ? 6 : 0;
  const tiff = out.subarray(start);
  if (tiff.length < 8) return out;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return out;
  const le = order === 'II';
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd0 = u32(4);
  if (ifd0 + 2 > tiff.length) return out;
  const entries = u16(ifd0);
  for (let i = 0; i < entries; i++) {
    const entry = ifd0 + 2 + 12 * i;
    if (entry + 12 > tiff.length) break;
    if (u16(entry) === ORIENTATION_TAG && u16(entry + 2) === TYPE_SHORT) {
      // A single SHORT lives in the first two bytes of the value field.
      if (le) tiff.writeUInt16LE(1, entry + 8);
      else tiff.writeUInt16BE(1, entry + 8);
    }
  }
  return out;
}

/** XMP text with tiff:Orientation (attribute or element form) set to 1. */
export function xmpWithOrientation1(xmp: string): string {
  return xmp
    .replace(/(tiff:Orientation\s*=\s*["'])\d(["'])/g, '$11$2')
    .replace(/(<tiff:Orientation>\s*)\d(\s*<\/tiff:Orientation>)/g, '$11$2');
}

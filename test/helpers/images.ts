/**
 * Image fixtures for the decode/encode tests, generated with sharp (or by hand where sharp
 * cannot make them) and named by the property they exercise. Pixel values are chosen so
 * each test knows exactly what the stored samples are.
 */
import zlib from 'node:zlib';
import sharp from 'sharp';
import { seededRandom } from './random.js';

export const RED = [220, 30, 40] as const;
export const GREEN = [30, 200, 60] as const;

/** Interleaved 8-bit pixels from a per-pixel function. */
export function raw8(
  width: number,
  height: number,
  channels: number,
  pixel: (x: number, y: number) => readonly number[],
): Buffer {
  const out = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out.set(pixel(x, y), (y * width + x) * channels);
  }
  return out;
}

/** 32x16 as stored: top-left 16x8 quadrant red, the rest green; EXIF orientation 6 (rotate 90° CW). */
export function jpegWithExifOrientation6(): Promise<Buffer> {
  const raw = raw8(32, 16, 3, (x, y) => (x < 16 && y < 8 ? RED : GREEN));
  return sharp(raw, { raw: { width: 32, height: 16, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .withExifMerge({ IFD0: { Artist: 'Pixelift fixture' } })
    .withXmp(XMP_ORIENTATION_6)
    .jpeg({ quality: 95 })
    .toBuffer();
}

export const XMP_ORIENTATION_6 =
  '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' +
  '<rdf:Description rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" ' +
  'xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="6"><dc:creator><rdf:Seq>' +
  '<rdf:li>Pixelift fixture</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>';

/**
 * 8x4 RGBA, 16-bit: the left half fully transparent, the right half opaque; colour samples
 * that are not multiples of 257, so an 8-bit detour would show.
 */
export const PNG16_WIDTH = 8;
export const PNG16_HEIGHT = 4;
export function png16Samples(): Uint16Array {
  const out = new Uint16Array(PNG16_WIDTH * PNG16_HEIGHT * 4);
  for (let i = 0; i < PNG16_WIDTH * PNG16_HEIGHT; i++) {
    const x = i % PNG16_WIDTH;
    out.set([1000 + 7 * i, 40001 - 13 * i, 12345 + i, x < PNG16_WIDTH / 2 ? 0 : 65535], 4 * i);
  }
  return out;
}
export function pngWithTransparency16bit(): Promise<Buffer> {
  return sharp(png16Samples(), { raw: { width: PNG16_WIDTH, height: PNG16_HEIGHT, channels: 4 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
}

/** The same 16-bit samples, RGB only, as a deflate TIFF. */
export function tiff16bit(): Promise<Buffer> {
  const rgba = png16Samples();
  const rgb = new Uint16Array((rgba.length / 4) * 3);
  for (let i = 0; i < rgba.length / 4; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  return sharp(rgb, { raw: { width: PNG16_WIDTH, height: PNG16_HEIGHT, channels: 3 } })
    .toColourspace('rgb16')
    .tiff({ compression: 'deflate' })
    .toBuffer();
}

/** 16x8, pure red, converted by sharp to CMYK (its built-in profile; the file carries none). */
export function cmykJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 16, height: 8, channels: 3, background: '#ff0000' } })
    .toColourspace('cmyk')
    .jpeg({ quality: 100 })
    .toBuffer();
}

/** 6x4 palette PNG with two entries: opaque red (left), half-transparent green (right). */
export function palettePng(): Promise<Buffer> {
  const raw = raw8(6, 4, 4, (x) => (x < 3 ? [...RED, 255] : [...GREEN, 128]));
  return sharp(raw, { raw: { width: 6, height: 4, channels: 4 } })
    .png({ palette: true, colours: 2, dither: 0 })
    .toBuffer();
}

/** 5x4, three frames: red, green, blue. */
export function animatedGif3Frames(): Promise<Buffer> {
  const frames = [RED, GREEN, [20, 40, 230]].map((c) => raw8(5, 4, 3, () => c));
  return sharp(Buffer.concat(frames), { raw: { width: 5, height: 12, channels: 3, pageHeight: 4 } })
    .gif()
    .toBuffer();
}

/** Display P3 as sharp ships it. */
export async function displayP3Profile(): Promise<Buffer> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000000' } })
    .withIccProfile('p3')
    .png()
    .toBuffer();
  const { icc } = await sharp(png).metadata();
  if (!icc) throw new Error('sharp attached no P3 profile');
  return icc;
}

/** sharp's built-in sRGB profile. */
export async function srgbProfileBytes(): Promise<Buffer> {
  const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000000' } })
    .withIccProfile('srgb')
    .png()
    .toBuffer();
  return (await sharp(png).metadata()).icc!;
}

/** 12x8 RGB with known samples (seeded noise) and a Display P3 iCCP chunk written by hand. */
export const P3_WIDTH = 12;
export const P3_HEIGHT = 8;
export function p3Samples(): Buffer {
  const rand = seededRandom(3);
  return raw8(P3_WIDTH, P3_HEIGHT, 3, () => [0, 0, 0].map(() => Math.floor(rand() * 256)));
}
export async function pngWithDisplayP3Profile(): Promise<Buffer> {
  const png = await sharp(p3Samples(), { raw: { width: P3_WIDTH, height: P3_HEIGHT, channels: 3 } })
    .png()
    .toBuffer();
  const iccp = chunk(
    'iCCP',
    Buffer.concat([Buffer.from('Display P3\0\0', 'latin1'), zlib.deflateSync(await displayP3Profile())]),
  );
  return Buffer.concat([png.subarray(0, 33), iccp, png.subarray(33)]);
}

/** 16x4 8-bit grey ramp (value 16*x + y), stored with one channel. */
export function grayscalePng(): Promise<Buffer> {
  const raw = raw8(16, 4, 1, (x, y) => [16 * x + y]);
  return sharp(raw, { raw: { width: 16, height: 4, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}

/** 8x4 lossless WebP, left half fully transparent (alpha 0), right half opaque. */
export function webpWithAlpha(): Promise<Buffer> {
  const raw = raw8(8, 4, 4, (x) => (x < 4 ? [...GREEN, 0] : [...RED, 255]));
  return sharp(raw, { raw: { width: 8, height: 4, channels: 4 } })
    .webp({ lossless: true, exact: true })
    .toBuffer();
}

/** 16x8 AVIF, flat red. */
export function avif(): Promise<Buffer> {
  return sharp(
    raw8(16, 8, 3, () => RED),
    { raw: { width: 16, height: 8, channels: 3 } },
  )
    .avif({ quality: 90 })
    .toBuffer();
}

/** 48x32 seeded noise: incompressible enough that JPEG quality shows in the size. */
export function noisyPng(width = 48, height = 32): Promise<Buffer> {
  const rand = seededRandom(7);
  const raw = raw8(width, height, 3, () => [0, 0, 0].map(() => Math.floor(rand() * 256)));
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

/** A PNG chunk with a CRC from Node's own zlib.crc32 (independent of src/engine/metadata.ts). */
export function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([head, body, crc]);
}

/** A valid PNG header that claims `width`x`height` RGB, with a tiny IDAT: a decompression bomb's shape. */
export function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * A HEIF file whose one item is HEVC-coded (a HEIC): ftyp `heic`, an `hvc1` item with an
 * `hvcC` configuration and an `ispe` size, and a few bytes of (not real) HEVC data. sharp has no
 * HEVC encoder to make a real one; the header is what tells libheif which decoder it needs.
 */
export function heicHeader(width: number, height: number): Buffer {
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const ascii = (s: string) => Buffer.from(s, 'latin1');
  const box = (type: string, ...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    return Buffer.concat([u32(8 + body.length), ascii(type), body]);
  };
  const fullBox = (type: string, version: number, ...parts: Buffer[]) =>
    box(type, u32(version << 24), ...parts);
  // HEVCDecoderConfigurationRecord: version 1, Main profile, level 3, 4:2:0, 8-bit, no NAL arrays.
  const hvcC = box(
    'hvcC',
    Buffer.from([1, 1, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 90, 0xf0, 0, 0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f, 0]),
  );
  const payload = Buffer.alloc(16);
  const build = (dataOffset: number) =>
    Buffer.concat([
      box('ftyp', ascii('heic'), u32(0), ascii('mif1heic')),
      fullBox(
        'meta',
        0,
        fullBox('hdlr', 0, u32(0), ascii('pict'), Buffer.alloc(12), u8(0)),
        fullBox('pitm', 0, u16(1)),
        fullBox(
          'iloc',
          0,
          u8(0x44),
          u8(0),
          u16(1),
          u16(1),
          u16(0),
          u16(1),
          u32(dataOffset),
          u32(payload.length),
        ),
        fullBox('iinf', 0, u16(1), fullBox('infe', 2, u16(1), u16(0), ascii('hvc1'), u8(0))),
        box(
          'iprp',
          box('ipco', hvcC, fullBox('ispe', 0, u32(width), u32(height))),
          fullBox('ipma', 0, u32(1), u16(1), u8(2), u8(0x81), u8(0x02)),
        ),
      ),
      box('mdat', payload),
    ]);
  return build(build(0).length - payload.length);
}

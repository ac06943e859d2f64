import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { DEFAULTS, type Limits } from '../../src/config.js';
import { decode } from '../../src/engine/decode.js';
import { encode, OUTPUT_FORMATS, type OutputFormat } from '../../src/engine/encode.js';
import {
  exifWithOrientation1,
  insertPngChunks,
  pngChunk,
  xmpWithOrientation1,
} from '../../src/engine/metadata.js';
import { isPixeliftError } from '../../src/errors.js';
import {
  chunk,
  cmykJpeg,
  displayP3Profile,
  GREEN,
  grayscalePng,
  jpegWithExifOrientation6,
  noisyPng,
  P3_HEIGHT,
  P3_WIDTH,
  PNG16_HEIGHT,
  PNG16_WIDTH,
  p3Samples,
  png16Samples,
  pngWithDisplayP3Profile,
  pngWithTransparency16bit,
  RED,
  raw8,
  srgbProfileBytes,
  tiff16bit,
  webpWithAlpha,
} from '../helpers/images.js';

const LIMITS: Limits = DEFAULTS.limits;

/** Stored 8-bit samples of an encoded image, without any colour management. */
async function samples(data: Buffer) {
  const { data: values, info } = await sharp(data, { ignoreIcc: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { values, info };
}

const isInvalid = (pattern: RegExp) => (err: unknown) => {
  assert.ok(isPixeliftError(err, 'invalid_argument'), `expected invalid_argument, got ${String(err)}`);
  assert.match(err.message, pattern);
  return true;
};

test('decode → encode of an 8-bit PNG is pixel-exact', async () => {
  const input = await noisyPng(37, 23);
  const img = await decode(input, LIMITS);
  const out = await encode(img, img.source, { format: 'png' });
  assert.equal(out.bitDepth, 8);
  const before = await sharp(input).raw().toBuffer();
  const after = await samples(out.data);
  assert.deepEqual([after.info.width, after.info.height, after.info.channels], [37, 23, 3]);
  assert.ok(after.values.equals(before));
});

test('a 16-bit PNG with transparency comes back as 16-bit PNG with the same samples and alpha', async () => {
  const img = await decode(await pngWithTransparency16bit(), LIMITS);
  const out = await encode(img, img.source, { format: 'png' });
  assert.equal(out.bitDepth, 16);
  const meta = await sharp(out.data).metadata();
  assert.deepEqual([meta.depth, meta.channels, meta.hasAlpha], ['ushort', 4, true]);
  // toColourspace keeps sharp from reducing to 8 bits before the raw read.
  const raw = await sharp(out.data).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  assert.deepEqual(new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2), png16Samples());
});

test('bitDepth 8 reduces a 16-bit source to an 8-bit PNG', async () => {
  const img = await decode(await pngWithTransparency16bit(), LIMITS);
  const out = await encode(img, img.source, { format: 'png', bitDepth: 8 });
  assert.equal(out.bitDepth, 8);
  assert.equal((await sharp(out.data).metadata()).depth, 'uchar');
  const { values } = await samples(out.data);
  assert.equal(values[0], Math.round((png16Samples()[0]! / 65535) * 255));
});

test('a 16-bit TIFF comes back as 16-bit TIFF, lossless', async () => {
  const img = await decode(await tiff16bit(), LIMITS);
  const out = await encode(img, img.source, { format: 'tiff' });
  assert.equal(out.bitDepth, 16);
  const meta = await sharp(out.data).metadata();
  assert.deepEqual([meta.format, meta.depth, meta.channels], ['tiff', 'ushort', 3]);
  const raw = await sharp(out.data).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  const got = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
  const expected = png16Samples();
  for (let i = 0; i < PNG16_WIDTH * PNG16_HEIGHT; i++) {
    for (let c = 0; c < 3; c++) assert.equal(got[3 * i + c], expected[4 * i + c]);
  }
});

test('TIFF keeps alpha', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  const out = await encode(img, img.source, { format: 'tiff' });
  const { values, info } = await samples(out.data);
  assert.equal(info.channels, 4);
  assert.deepEqual([values[3], values[4 * 7 + 3]], [0, 255]);
});

for (const format of OUTPUT_FORMATS) {
  test(`${format} output carries the source's Display P3 profile byte for byte, at the exact size`, async () => {
    const img = await decode(await pngWithDisplayP3Profile(), LIMITS);
    const out = await encode(img, img.source, { format, lossless: format === 'webp' || format === 'avif' });
    const meta = await sharp(out.data).metadata();
    assert.deepEqual([meta.width, meta.height], [P3_WIDTH, P3_HEIGHT]);
    assert.ok(meta.icc?.equals(await displayP3Profile()), 'the ICC profile is the source profile');
    if (format === 'png' || format === 'tiff' || format === 'webp') {
      // Lossless formats: the stored samples are the source's, untouched by any conversion.
      assert.ok((await samples(out.data)).values.equals(p3Samples()));
    }
  });
}

test('the ICC profile is attached even when keepMetadata is off, while EXIF and XMP are stripped', async () => {
  const img = await decode(await jpegWithExifOrientation6(), LIMITS);
  assert.ok(img.source.icc);
  for (const format of OUTPUT_FORMATS) {
    const meta = await sharp((await encode(img, img.source, { format })).data).metadata();
    assert.ok(meta.icc?.equals(img.source.icc), `${format}: ICC kept`);
    assert.equal(meta.exif, undefined, `${format}: EXIF stripped`);
    assert.equal(meta.xmp, undefined, `${format}: XMP stripped`);
    // TIFF always writes its baseline Orientation tag; everywhere it must not ask for a rotation.
    assert.equal(meta.orientation ?? 1, 1, `${format}: no rotation`);
  }
});

test('keepMetadata writes the source EXIF and XMP with orientation reset to 1', async () => {
  const img = await decode(await jpegWithExifOrientation6(), LIMITS);
  for (const format of ['jpeg', 'png', 'webp', 'avif'] as const) {
    const out = await encode(img, img.source, { format, keepMetadata: true });
    const meta = await sharp(out.data).metadata();
    assert.ok(meta.exif?.includes('Pixelift fixture'), `${format}: EXIF Artist kept`);
    assert.ok(meta.xmp?.includes('Pixelift fixture'), `${format}: XMP kept`);
    assert.match(meta.xmp!.toString(), /tiff:Orientation="1"/);
    // HEIF stores orientation in irot/imir boxes, so sharp reports none for AVIF.
    if (format !== 'avif') assert.equal(meta.orientation, 1, `${format}: orientation 1`);
    assert.deepEqual([meta.autoOrient.width, meta.autoOrient.height], [16, 32], `${format}: stays upright`);
    assert.deepEqual(out.warnings, []);
  }
});

test('keepMetadata on TIFF keeps XMP and warns that libvips writes no EXIF there', async () => {
  const img = await decode(await jpegWithExifOrientation6(), LIMITS);
  const out = await encode(img, img.source, { format: 'tiff', keepMetadata: true });
  const meta = await sharp(out.data).metadata();
  assert.ok(meta.xmp?.includes('Pixelift fixture'));
  assert.equal(meta.exif, undefined);
  assert.equal(meta.orientation, 1);
  assert.match(out.warnings.join('\n'), /TIFF output carries no EXIF/);
});

test('a CMYK source goes out as sRGB pixels with an sRGB profile', async () => {
  const img = await decode(await cmykJpeg(), LIMITS);
  const out = await encode(img, img.source, { format: 'png' });
  const meta = await sharp(out.data).metadata();
  assert.deepEqual([meta.space, meta.channels], ['srgb', 3]);
  assert.ok(meta.icc?.equals(await srgbProfileBytes()), 'the sRGB profile');
  const { values } = await samples(out.data);
  assert.ok(values[0]! > 200 && values[1]! < 40 && values[2]! < 40, `red, got ${[...values.subarray(0, 3)]}`);
});

test('a grayscale source goes out as one-channel grayscale', async () => {
  const img = await decode(await grayscalePng(), LIMITS);
  const out = await encode(img, img.source, { format: 'png' });
  const { values, info } = await samples(out.data);
  assert.equal(info.channels, 3); // sharp's raw() expands grey; the file itself:
  assert.deepEqual(
    await sharp(out.data)
      .metadata()
      .then((m) => [m.space, m.channels]),
    ['b-w', 1],
  );
  assert.equal(values[3 * 17], 16 * 1 + 1); // x = 1, y = 1
});

test('JPEG flattens alpha onto the background colour, with a warning', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  const out = await encode(img, img.source, { format: 'jpeg', background: '#0000ff' });
  assert.match(out.warnings.join('\n'), /flattened onto #0000ff/);
  const { values, info } = await samples(out.data);
  assert.equal(info.channels, 3);
  const at = (x: number, y: number) => [...values.subarray(3 * (y * 8 + x), 3 * (y * 8 + x) + 3)];
  const near = (a: number[], b: readonly number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 24);
  assert.ok(near(at(0, 0), [0, 0, 255]), `transparent → background, got ${at(0, 0)}`);
  assert.ok(near(at(7, 3), RED), `opaque stays red, got ${at(7, 3)}`);
});

test('an invalid background colour is invalid_argument', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  await assert.rejects(
    encode(img, img.source, { format: 'jpeg', background: 'not-a-colour' }),
    isInvalid(/background/),
  );
});

test('JPEG quality changes the size; progressive is honoured', async () => {
  const img = await decode(await noisyPng(), LIMITS);
  const low = await encode(img, img.source, { format: 'jpeg', quality: 20 });
  const high = await encode(img, img.source, { format: 'jpeg', quality: 95 });
  assert.ok(
    low.data.length < high.data.length * 0.6,
    `q20 ${low.data.length} B vs q95 ${high.data.length} B`,
  );
  const progressive = await encode(img, img.source, { format: 'jpeg', progressive: true });
  assert.equal((await sharp(progressive.data).metadata()).isProgressive, true);
  assert.equal((await sharp(high.data).metadata()).isProgressive, false);
});

test('progressive PNG is interlaced', async () => {
  const img = await decode(await noisyPng(), LIMITS);
  const out = await encode(img, img.source, { format: 'png', progressive: true });
  assert.equal((await sharp(out.data).metadata()).isProgressive, true);
  assert.ok(
    (await samples(out.data)).values.equals(
      await sharp(await noisyPng())
        .raw()
        .toBuffer(),
    ),
  );
});

test('lossless WebP round-trips pixels and alpha exactly, including colour under transparency', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  const out = await encode(img, img.source, { format: 'webp', lossless: true });
  const { values } = await samples(out.data);
  const expected = raw8(8, 4, 4, (x) => (x < 4 ? [...GREEN, 0] : [...RED, 255]));
  assert.ok(values.equals(expected));
});

test('lossy WebP and AVIF keep alpha', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  for (const format of ['webp', 'avif'] as const) {
    const out = await encode(img, img.source, { format, quality: 80 });
    const { values, info } = await samples(out.data);
    assert.equal(info.channels, 4, format);
    assert.ok(values[3]! <= 8 && values[4 * 7 + 3]! >= 247, `${format}: alpha ${values[3]}, ${values[31]}`);
  }
});

test('TIFF with a quality is JPEG-compressed: 8-bit and alpha flattened, with a warning', async () => {
  const img = await decode(await pngWithTransparency16bit(), LIMITS);
  const out = await encode(img, img.source, { format: 'tiff', quality: 80 });
  assert.equal(out.bitDepth, 8);
  const meta = await sharp(out.data).metadata();
  assert.deepEqual([meta.depth, meta.channels], ['uchar', 3]);
  assert.match(out.warnings.join('\n'), /JPEG-compressed TIFF cannot hold transparency/);
});

test('BAD CALL - quality outside 1..100 or not an integer is invalid_argument', async () => {
  const img = await decode(await noisyPng(8, 8), LIMITS);
  for (const quality of [0, 101, 1.5, Number.NaN]) {
    await assert.rejects(
      encode(img, img.source, { format: 'jpeg', quality }),
      isInvalid(/^Expected integer in \[1, 100\] for quality but received/),
    );
  }
});

test('BAD CALL - 16-bit JPEG/WebP/AVIF, lossless JPEG, unknown format and mis-sized planes are invalid_argument', async () => {
  const img = await decode(await noisyPng(8, 8), LIMITS);
  for (const format of ['jpeg', 'webp', 'avif'] as const) {
    await assert.rejects(encode(img, img.source, { format, bitDepth: 16 }), isInvalid(/for bitDepth/));
  }
  await assert.rejects(
    encode(img, img.source, { format: 'jpeg', lossless: true }),
    isInvalid(/for lossless/),
  );
  await assert.rejects(
    encode(img, img.source, { format: 'bmp' as OutputFormat }),
    isInvalid(/png \| jpeg \| webp \| avif \| tiff for format/),
  );
  await assert.rejects(encode({ ...img, width: 9 }, img.source, { format: 'png' }), isInvalid(/for rgb/));
});

test('values outside 0..1 and NaN are clamped, not wrapped', async () => {
  // 2x1: r plane (-0.5, 1.5), g plane (NaN, 0.5), b plane (2, -1).
  const rgb = Float32Array.from([-0.5, 1.5, Number.NaN, 0.5, 2, -1]);
  const source = (await decode(await noisyPng(2, 1), LIMITS)).source;
  const out = await encode({ rgb, width: 2, height: 1 }, source, { format: 'png' });
  assert.deepEqual([...(await samples(out.data)).values], [0, 0, 255, 255, 128, 0]);
});

test('exifWithOrientation1 rewrites the Orientation tag in little- and big-endian EXIF', () => {
  for (const le of [true, false]) {
    // TIFF header, IFD0 at 8 with two entries: ImageWidth (LONG) and Orientation 8 (SHORT).
    const b = Buffer.alloc(8 + 2 + 2 * 12 + 4);
    const w16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
    const w32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    b.write(le ? 'II' : 'MM', 0, 'latin1');
    w16(42, 2);
    w32(8, 4);
    w16(2, 8);
    w16(0x0100, 10); // ImageWidth, LONG, count 1, 640
    w16(4, 12);
    w32(1, 14);
    w32(640, 18);
    w16(0x0112, 22); // Orientation, SHORT, count 1, 8
    w16(3, 24);
    w32(1, 26);
    w16(8, 30);
    const withPrefix = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), b]);
    const out = exifWithOrientation1(withPrefix);
    const read = (at: number) => (le ? out.readUInt16LE(at) : out.readUInt16BE(at));
    assert.equal(read(6 + 30), 1, 'orientation');
    assert.equal(le ? out.readUInt32LE(6 + 18) : out.readUInt32BE(6 + 18), 640, 'other tags untouched');
    assert.equal(withPrefix.readUInt8(6 + (le ? 30 : 31)), 8, 'the input is not modified');
  }
  assert.deepEqual(exifWithOrientation1(Buffer.from('junk')), Buffer.from('junk'));
});

test('xmpWithOrientation1 rewrites attribute and element forms', () => {
  assert.equal(xmpWithOrientation1('<d tiff:Orientation="6"/>'), '<d tiff:Orientation="1"/>');
  assert.equal(
    xmpWithOrientation1('<tiff:Orientation>8</tiff:Orientation>'),
    '<tiff:Orientation>1</tiff:Orientation>',
  );
});

test('pngChunk computes the same CRC as zlib.crc32 and chunks go right after IHDR', async () => {
  const data = Buffer.from('hello chunk');
  assert.deepEqual(pngChunk('tEXt', data), chunk('tEXt', data));
  const png = await noisyPng(4, 4);
  const out = insertPngChunks(png, [pngChunk('tEXt', Buffer.from('Comment\0hi'))]);
  assert.equal(out.toString('latin1', 33 + 4, 33 + 8), 'tEXt');
  assert.deepEqual((await sharp(out).metadata()).comments, [{ keyword: 'Comment', text: 'hi' }]);
});

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { DEFAULTS, type Limits } from '../../src/config.js';
import { type DecodedImage, decode, probe } from '../../src/engine/decode.js';
import { isPixeliftError } from '../../src/errors.js';
import {
  animatedGif3Frames,
  avif,
  cmykJpeg,
  displayP3Profile,
  GREEN,
  grayscalePng,
  heicHeader,
  jpegWithExifOrientation6,
  P3_HEIGHT,
  P3_WIDTH,
  PNG16_HEIGHT,
  PNG16_WIDTH,
  p3Samples,
  palettePng,
  png16Samples,
  pngClaiming,
  pngWithDisplayP3Profile,
  pngWithTransparency16bit,
  RED,
  tiff16bit,
  webpWithAlpha,
} from '../helpers/images.js';
import { tempDir } from '../helpers/models.js';

const LIMITS: Limits = DEFAULTS.limits;

/** [r, g, b] of one pixel, rounded to 0..255. */
function rgbAt(img: DecodedImage, x: number, y: number): number[] {
  const n = img.width * img.height;
  const i = y * img.width + x;
  return [0, 1, 2].map((c) => Math.round(img.rgb[c * n + i]! * 255));
}

function assertNear(actual: readonly number[], expected: readonly number[], tolerance: number, what: string) {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance,
      `${what}: got [${actual.map((v) => v.toFixed(1))}], expected [${expected}] ±${tolerance}`,
    );
  }
}

const isCode = (code: 'image_unreadable' | 'image_too_large', pattern?: RegExp) => (err: unknown) => {
  assert.ok(isPixeliftError(err, code), `expected ${code}, got ${String(err)}`);
  if (pattern) assert.match(err.message, pattern);
  return true;
};

test('applies EXIF orientation 6: the size swaps and the stored top-left corner lands top-right', async () => {
  const img = await decode(await jpegWithExifOrientation6(), LIMITS);
  assert.equal(img.source.orientation, 6);
  assert.deepEqual([img.width, img.height], [16, 32]);
  assert.deepEqual([img.source.width, img.source.height], [16, 32]);
  assertNear(rgbAt(img, 13, 3), RED, 12, 'top-right');
  assertNear(rgbAt(img, 2, 3), GREEN, 12, 'top-left');
  assertNear(rgbAt(img, 13, 28), GREEN, 12, 'bottom-right');
  assert.deepEqual(img.warnings, []);
});

test('decodes a 16-bit PNG with transparency at full precision, alpha as its own plane', async () => {
  const img = await decode(await pngWithTransparency16bit(), LIMITS);
  assert.equal(img.source.depth, 16);
  assert.equal(img.source.space, 'rgb16');
  assert.equal(img.source.hasAlpha, true);
  const samples = png16Samples();
  const n = PNG16_WIDTH * PNG16_HEIGHT;
  assert.ok(img.alpha);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) assert.equal(Math.round(img.rgb[c * n + i]! * 65535), samples[4 * i + c]);
    assert.equal(img.alpha[i], i % PNG16_WIDTH < PNG16_WIDTH / 2 ? 0 : 1);
  }
});

test('decodes a 16-bit TIFF at full precision', async () => {
  const img = await decode(await tiff16bit(), LIMITS);
  assert.equal(img.source.format, 'tiff');
  assert.equal(img.source.depth, 16);
  assert.equal(img.alpha, undefined);
  const samples = png16Samples();
  const n = PNG16_WIDTH * PNG16_HEIGHT;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) assert.equal(Math.round(img.rgb[c * n + i]! * 65535), samples[4 * i + c]);
  }
});

test('converts a CMYK JPEG to sRGB with a warning', async () => {
  const img = await decode(await cmykJpeg(), LIMITS);
  assert.equal(img.source.space, 'cmyk');
  assert.equal(img.source.channels, 4);
  assert.equal(img.source.toSrgb, true);
  assert.equal(img.alpha, undefined);
  const [r, g, b] = rgbAt(img, 8, 4);
  assert.ok(r! > 200 && g! < 40 && b! < 40, `expected red, got ${[r, g, b]}`);
  assert.equal(img.warnings.length, 1);
  assert.match(img.warnings[0]!, /CMYK.*converted to sRGB/);
});

test('expands a palette PNG to its exact colours and keeps its transparency', async () => {
  const img = await decode(await palettePng(), LIMITS);
  assert.equal(img.source.palette, true);
  assert.deepEqual(rgbAt(img, 0, 0), [...RED]);
  assert.deepEqual(rgbAt(img, 5, 3), [...GREEN]);
  assert.ok(img.alpha);
  assert.equal(img.alpha[0], 1);
  assert.equal(Math.round(img.alpha[5]! * 255), 128);
});

test('decodes the first frame of an animated GIF and warns that 2 of 3 frames were dropped', async () => {
  const img = await decode(await animatedGif3Frames(), LIMITS);
  assert.equal(img.source.pages, 3);
  assert.deepEqual([img.width, img.height], [5, 4]);
  assertNear(rgbAt(img, 2, 2), RED, 4, 'first frame');
  assert.deepEqual(img.warnings, ['The gif has 3 frames; only the first was decoded (2 dropped).']);
});

test('keeps a Display P3 PNG in its own encoding (no colour conversion) and returns its profile', async () => {
  const img = await decode(await pngWithDisplayP3Profile(), LIMITS);
  assert.ok(img.source.icc?.equals(await displayP3Profile()), 'source.icc is the embedded profile');
  assert.equal(img.source.toSrgb, false);
  const stored = p3Samples();
  const n = P3_WIDTH * P3_HEIGHT;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) assert.equal(Math.round(img.rgb[c * n + i]! * 255), stored[3 * i + c]);
  }
});

test('expands a one-channel grayscale PNG into three equal planes', async () => {
  const img = await decode(await grayscalePng(), LIMITS);
  assert.equal(img.source.gray, true);
  assert.equal(img.source.channels, 1);
  assert.equal(img.source.depth, 8);
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 16; x++) assert.deepEqual(rgbAt(img, x, y), [16 * x + y, 16 * x + y, 16 * x + y]);
  }
});

test('keeps the transparent region of a WebP with alpha', async () => {
  const img = await decode(await webpWithAlpha(), LIMITS);
  assert.equal(img.source.format, 'webp');
  assert.ok(img.alpha);
  assert.deepEqual([...img.alpha.subarray(0, 8)], [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(rgbAt(img, 6, 1), [...RED]);
});

test('decodes AVIF (HEIF with AV1) to its exact size', async () => {
  const img = await decode(await avif(), LIMITS);
  assert.equal(img.source.format, 'heif');
  assert.equal(img.source.compression, 'av1');
  assert.deepEqual([img.width, img.height], [16, 8]);
  assertNear(rgbAt(img, 8, 4), RED, 8, 'avif');
});

test('a HEIC (HEVC-coded HEIF) input is image_unreadable saying this sharp build cannot decode HEVC', async () => {
  const heic = heicHeader(64, 48);
  const info = await probe(heic, LIMITS);
  assert.equal(info.compression, 'hevc');
  await assert.rejects(decode(heic, LIMITS), isCode('image_unreadable', /HEIC.*no HEVC decoder/));
});

test('rejects a PNG whose header claims 100000×100000 before decoding', async () => {
  const bomb = pngClaiming(100000, 100000);
  const before = process.memoryUsage().rss;
  await assert.rejects(decode(bomb, LIMITS), (err: unknown) => {
    assert.ok(isPixeliftError(err, 'image_too_large'));
    assert.match(err.message, /100000x100000 is 10000 MP, above the limit of 50 MP/);
    return true;
  });
  const grown = (process.memoryUsage().rss - before) / 1e6;
  assert.ok(grown < 50, `RSS grew ${grown.toFixed(1)} MB`);
});

test('rejects an image with a side above maxSide even when its megapixels are within the limit', async () => {
  const wide = await sharp({ create: { width: 300, height: 2, channels: 3, background: '#000' } })
    .png()
    .toBuffer();
  await assert.rejects(
    decode(wide, { ...LIMITS, maxSide: 256 }),
    isCode('image_too_large', /300x2 has a side longer than the limit of 256 px/),
  );
});

test('rejects input above maxInputBytes, from a buffer and from a file, before parsing it', async () => {
  const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#123' } })
    .png()
    .toBuffer();
  const limits = { ...LIMITS, maxInputBytes: png.length - 1 };
  const expected = new RegExp(`${png.length} bytes, above the limit of ${png.length - 1} bytes`);
  await assert.rejects(decode(png, limits), isCode('image_too_large', expected));
  const file = path.join(tempDir(), 'image.png');
  fs.writeFileSync(file, png);
  await assert.rejects(decode(file, limits), isCode('image_too_large', expected));
  const ok = await decode(file, LIMITS);
  assert.deepEqual([ok.width, ok.height], [64, 64]);
});

test('truncated PNG and JPEG inputs are image_unreadable', async () => {
  const noisy = sharp({
    create: {
      width: 64,
      height: 64,
      channels: 3,
      background: '#000',
      noise: { type: 'gaussian', mean: 128, sigma: 50 },
    },
  });
  for (const data of [await noisy.clone().png().toBuffer(), await noisy.clone().jpeg().toBuffer()]) {
    await assert.rejects(decode(data.subarray(0, data.length >> 1), LIMITS), isCode('image_unreadable'));
  }
});

test('garbage, empty and missing inputs are image_unreadable', async () => {
  await assert.rejects(decode(Buffer.from('not an image at all'), LIMITS), isCode('image_unreadable'));
  await assert.rejects(decode(Buffer.alloc(0), LIMITS), isCode('image_unreadable'));
  await assert.rejects(
    decode(path.join(tempDir(), 'missing.png'), LIMITS),
    isCode('image_unreadable', /missing\.png/),
  );
});

test('probe reads only the header: upright size, depth, space and metadata', async () => {
  const info = await probe(await jpegWithExifOrientation6(), LIMITS);
  assert.equal(info.format, 'jpeg');
  assert.deepEqual([info.width, info.height, info.orientation], [16, 32, 6]);
  assert.deepEqual([info.depth, info.space, info.channels, info.pages], [8, 'srgb', 3, 1]);
  assert.ok(info.exif && info.xmp && info.icc);
});

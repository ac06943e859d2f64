import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { upscaleImage } from '../../src/engine/pipeline.js';
import { isPixeliftError } from '../../src/errors.js';
import { testStore } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const PHOTO = repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'); // 128x128 RGBA
const store = testStore();
const small = (w: number, h: number) => sharp(PHOTO).removeAlpha().resize(w, h).png().toBuffer();

test('cover with width and height gives exactly that size through a network', async () => {
  const r = await upscaleImage(store, await small(30, 20), {
    model: 'realesrgan-x4fast',
    width: 90,
    height: 80,
    fit: 'cover',
  });
  const m = await sharp(r.data).metadata();
  assert.deepEqual([m.width, m.height], [90, 80], 'resized to 120x80 to cover, then centre-cropped');
  assert.deepEqual(r.info.passes, [4]);
  assert.deepEqual([r.info.output.width, r.info.output.height], [90, 80]);
});

test('8x on rrdn-thick is one native 8x pass; on a 4x-only model it is two passes resampled down', async () => {
  const input = await small(12, 10);
  const rrdn = await upscaleImage(store, input, { model: 'rrdn-slim', scale: 8 });
  assert.deepEqual(rrdn.info.passes, [8]);
  const x4 = await upscaleImage(store, input, { model: 'realesrgan-x4fast', scale: 8 });
  assert.deepEqual(x4.info.passes, [4, 4]);
  const m = await sharp(x4.data).metadata();
  assert.deepEqual([m.width, m.height], [96, 80]);
});

test('classical lanczos3 and bicubic run no network and give different pixels at the same size', async () => {
  const input = await small(24, 16);
  const l = await upscaleImage(store, input, { model: 'lanczos3', scale: 3 });
  const b = await upscaleImage(store, input, { model: 'bicubic', scale: 3 });
  assert.deepEqual(l.info.passes, []);
  const [lr, br] = await Promise.all([l.data, b.data].map((d) => sharp(d).raw().toBuffer()));
  assert.equal(lr!.length, 72 * 48 * 3);
  let differing = 0;
  for (let i = 0; i < lr!.length; i++) if (lr![i] !== br![i]) differing++;
  assert.ok(differing > lr!.length * 0.2, `only ${differing} of ${lr!.length} values differ`);
});

test('transparency survives a network: alpha is upscaled separately and kept in PNG', async () => {
  // Left half opaque photo, right half fully transparent.
  const { data } = await sharp(PHOTO)
    .resize(32, 16)
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  for (let y = 0; y < 16; y++) for (let x = 16; x < 32; x++) data[(y * 32 + x) * 4 + 3] = 0;
  const input = await sharp(data, { raw: { width: 32, height: 16, channels: 4 } })
    .png()
    .toBuffer();
  const r = await upscaleImage(store, input, { model: 'realesrgan-x4fast' });
  const out = await sharp(r.data).raw().toBuffer({ resolveWithObject: true });
  assert.equal(out.info.channels, 4);
  const alphaAt = (x: number, y: number) => out.data[(y * 128 + x) * 4 + 3]!;
  assert.equal(alphaAt(20, 30), 255, 'opaque side stays opaque');
  assert.equal(alphaAt(110, 30), 0, 'transparent side stays transparent');
});

test('JPEG output of a transparent image is flattened, with a warning', async () => {
  const input = await sharp(PHOTO).resize(16, 16).png().toBuffer(); // the fixture has alpha
  const r = await upscaleImage(store, input, { model: 'lanczos3', scale: 2, format: 'jpeg' });
  assert.equal((await sharp(r.data).metadata()).format, 'jpeg');
  assert.ok(
    r.info.warnings.some((w) => /transparency/.test(w)),
    r.info.warnings.join('; '),
  );
});

test('the oversize policy: reject refuses before decoding; downscale_input reports what it did', async () => {
  const input = await small(100, 80);
  const limits = { maxInputBytes: 1e7, maxInputMegapixels: 50, maxSide: 16384, maxOutputMegapixels: 0.05 };
  await assert.rejects(upscaleImage(store, input, { model: 'lanczos3', scale: 4, limits }), (e: unknown) =>
    isPixeliftError(e, 'output_too_large'),
  );
  const r = await upscaleImage(store, input, {
    model: 'lanczos3',
    scale: 4,
    limits,
    oversize: 'downscale_input',
  });
  assert.ok(r.info.output.width * r.info.output.height <= 50_000);
  assert.ok(r.info.networkInput.width < 100);
  assert.match(r.info.warnings.join(' '), /downscaled from 100x80/);
});

test('a provider alias applies its knob preset and records requested and used model', async () => {
  const input = await small(16, 16);
  const r = await upscaleImage(store, input, { model: 'High Fidelity V2', scale: 2 });
  assert.deepEqual(r.info.model, { requested: 'High Fidelity V2', used: 'rrdn-thick' });
  const plain = await upscaleImage(store, input, { model: 'rrdn-thick', scale: 2 });
  const text = await upscaleImage(store, input, { model: 'Text Refine', scale: 2 }); // rrdn-thick + sharpen
  assert.notDeepEqual(
    await sharp(text.data).raw().toBuffer(),
    await sharp(plain.data).raw().toBuffer(),
    'the Text Refine preset (sharpen) changes the pixels',
  );
});

test('EXPECTED FAILURE - an aborted signal stops the work with an AbortError', async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(
    upscaleImage(store, await small(16, 16), { model: 'realesrgan-x4fast' }, { signal: ac.signal }),
    (e: unknown) => (e as Error).name === 'AbortError',
  );
});

test('a 16-bit PNG comes out 16-bit, and a grey PNG comes out grey, through a network (both tile paths)', async () => {
  const sixteen = await sharp(PHOTO).removeAlpha().resize(20, 14).toColourspace('rgb16').png().toBuffer();
  assert.equal((await sharp(sixteen).metadata()).depth, 'ushort');
  for (const options of [{}, { sharpen: 0.3 }]) {
    // {} takes the direct 16-bit final pass; sharpen forces the planar path.
    const r = await upscaleImage(store, sixteen, { model: 'realesrgan-x4fast', ...options });
    const m = await sharp(r.data).metadata();
    assert.deepEqual([m.depth, m.width, r.info.output.bitDepth], ['ushort', 80, 16]);
    const px = await sharp(r.data).raw({ depth: 'ushort' }).toBuffer();
    const values = new Uint16Array(px.buffer, px.byteOffset, px.length / 2);
    assert.ok(
      values.some((v) => v % 257 !== 0),
      'real 16-bit values, not 8-bit ones widened',
    );
  }
  const grey = await sharp(PHOTO).removeAlpha().resize(20, 14).toColourspace('b-w').png().toBuffer();
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const g = await upscaleImage(store, grey, { model: 'realesrgan-x4fast' });
  const gm = await sharp(g.data).metadata();
  assert.deepEqual([gm.channels, gm.space, gm.width], [1, 'b-w', 80]);
});

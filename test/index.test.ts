import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { close, isPixeliftError, listModels, upscale } from '../src/index.js';
import { autoPrecision } from '../src/models/precision.js';
import { tempDir } from './helpers/models.js';
import { repoPath } from './helpers/paths.js';

// The library reads its configuration on first use; give it a data dir of its own.
process.env.PIXELIFT_DATA_DIR = tempDir();
process.env.PIXELIFT_DEVICE = 'cpu';

after(() => close());

test('the library upscale() runs in a worker and returns bytes with the info', async () => {
  const input = await sharp(repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'))
    .resize(20, 12)
    .png()
    .toBuffer();
  const fractions: number[] = [];
  const { data, info } = await upscale(
    input,
    { model: 'realesrgan-x4fast', format: 'webp' },
    { onProgress: (f) => fractions.push(f) },
  );
  const m = await sharp(data).metadata();
  assert.deepEqual([m.format, m.width, m.height], ['webp', 80, 48]);
  assert.deepEqual([info.output.width, info.model.used], [80, 'realesrgan-x4fast']);
  assert.equal(fractions.at(-1), 1);
});

test('the library option precision runs the int8 network and info says so; unset, PIXELIFT_PRECISION (auto) decides', async () => {
  const input = await sharp(repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'))
    .resize(20, 12)
    .png()
    .toBuffer();
  const int8 = await upscale(input, { model: 'realesrgan-x4fast', precision: 'int8' });
  assert.equal(int8.info.precision, 'int8');
  const fp32 = await upscale(input, { model: 'realesrgan-x4fast', precision: 'fp32' });
  assert.equal(fp32.info.precision, 'fp32');
  assert.notDeepEqual(int8.data, fp32.data);
  const auto = await upscale(input, { model: 'realesrgan-x4fast' });
  assert.equal(auto.info.precision, autoPrecision(listModels().find((m) => m.id === 'realesrgan-x4fast')!));
  await assert.rejects(upscale(input, { model: 'bicubic', precision: 'int8' }), (e: unknown) =>
    isPixeliftError(e, 'precision_unsupported'),
  );
});

test('the library reports errors with their codes', async () => {
  await assert.rejects(upscale(Buffer.from('nope')), (e: unknown) => isPixeliftError(e, 'image_unreadable'));
});

test('listModels() lists the catalog', () => {
  const ids = listModels().map((m) => m.id);
  for (const id of ['realesrgan-x4plus', 'rrdn-thick', 'lanczos3']) assert.ok(ids.includes(id), id);
});

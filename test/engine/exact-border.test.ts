/**
 * A model's catalog border (ModelEntry.exactBorder) is lowered below the engine's 16 px only
 * where its kept pixels stay within 1/255 of a large border's, checked on a real photo other
 * than the one it was measured on (rocket.jpg, bench/border-probe.ts).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { EXACT_BORDER, exactBorder, upscaleImage } from '../../src/engine/pipeline.js';
import { runOneWindow } from '../../src/engine/segmented.js';
import { planarSink } from '../../src/engine/tiles.js';
import { testStore } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const PHOTO = repoPath('bench/photos/coffee.png'); // 600x400, CC0 (bench/photos/README.md)
/** Reference border: well past where rrdn-thick's kept pixels stop changing (12 px, see catalog). */
const LARGE_BORDER = 48;
const store = testStore();
after(() => store.close());

test('rrdn-thick ×4 through the pipeline with its 8 px border stays within 1/255 of a 48 px border on a photo crop', async () => {
  const model = store.resolve('rrdn-thick').model;
  const border = exactBorder(model, 4);
  assert.ok(border < EXACT_BORDER, `the catalog lowers rrdn-thick ×4's border (got ${border})`);
  // The cup's rim and saucer: edges and texture that reach every side of the crop.
  const [width, height] = [160, 120];
  const png = await sharp(PHOTO).extract({ left: 220, top: 140, width, height }).png().toBuffer();
  // 16-bit output, so the comparison is not drowned in 8-bit rounding.
  const { data } = await upscaleImage(store, png, {
    model: 'rrdn-thick',
    scale: 4,
    precision: 'fp32',
    bitDepth: 16,
  });
  const out = await sharp(data)
    .toColourspace('rgb16')
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  const [W, H] = [width * 4, height * 4];
  assert.deepEqual([out.info.width, out.info.height, out.info.channels], [W, H, 3]);
  const got = new Uint16Array(out.data.buffer, out.data.byteOffset, out.data.length / 2);

  const raw = await sharp(png).removeAlpha().raw().toBuffer();
  const n = width * height;
  const rgb = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) rgb[c * n + i] = raw[3 * i + c]! / 255;
  const runner = await store.open('rrdn-thick', 4);
  const plan = (await store.segmentPlans('rrdn-thick', 4))!.coarse;
  const ref = await runOneWindow(
    { data: rgb, width, height },
    runner,
    plan,
    { border: LARGE_BORDER },
    planarSink(W, H),
  );
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  let worst = 0;
  for (let i = 0; i < W * H; i++) {
    for (let c = 0; c < 3; c++) {
      worst = Math.max(worst, Math.abs(got[3 * i + c]! / 65535 - clamp(ref.data[c * W * H + i]!)));
    }
  }
  assert.ok(worst * 255 <= 1, `max difference ${(worst * 255).toFixed(3)}/255 over the kept pixels`);
});

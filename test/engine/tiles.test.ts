import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crop, reflect, runTiled } from '../../src/engine/tiles.js';
import type { Tile } from '../../src/models/runner.js';
import { testStore } from '../helpers/models.js';

test('reflect mirrors indices without repeating the edge pixel', () => {
  assert.deepEqual(
    [-3, -2, -1, 0, 1, 4, 5, 6, 7].map((i) => reflect(i, 5)),
    [3, 2, 1, 0, 1, 4, 3, 2, 1],
  );
  assert.equal(reflect(-7, 1), 0);
});

test('crop reads a window and reflects where it leaves the image', () => {
  const img: Tile = { data: Float32Array.from({ length: 3 * 4 * 3 }, (_, i) => i), width: 4, height: 3 };
  const w = crop(img, -1, 0, 3, 1); // x = -1, 0, 1 on row 0 of each channel
  assert.deepEqual([...w], [1, 0, 1, 13, 12, 13, 25, 24, 25]);
});

function pattern(width: number, height: number): Tile {
  const n = width * height;
  const data = new Float32Array(3 * n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      data[i] = 0.5 + 0.4 * Math.sin(x * 0.7) * Math.cos(y * 0.4);
      data[n + i] = (x * 7 + y * 3) % 11 < 5 ? 0.15 : 0.85;
      data[2 * n + i] = x / width;
    }
  }
  return { data, width, height };
}

test('tiled inference with 32 px of reflected context matches a whole-image run within 2/255 (x4fast)', async () => {
  const store = testStore();
  const runner = await store.open('realesrgan-x4fast');
  const image = pattern(50, 37);
  const run = (t: Tile) => runner.run(t);
  // "Whole image": one tile covering everything, with the same reflected border.
  const whole = await runTiled(image, 4, run, { tile: 64, pad: 32 });
  let calls = 0;
  const tiled = await runTiled(image, 4, run, { tile: 16, pad: 32, onProgress: () => calls++ });
  assert.equal(calls, 4 * 3, 'progress once per tile');
  assert.equal(tiled.width, 200);
  let worst = 0;
  for (let i = 0; i < whole.data.length; i++)
    worst = Math.max(worst, Math.abs(whole.data[i]! - tiled.data[i]!));
  assert.ok(worst <= 2 / 255, `worst difference ${worst * 255}/255`);
  await store.close();
});

test('EXPECTED FAILURE - an aborted signal stops tiling before the next tile', async () => {
  const ac = new AbortController();
  let calls = 0;
  const run = async (t: Tile) => {
    calls++;
    ac.abort();
    return { data: new Float32Array(t.data.length * 4), width: t.width * 2, height: t.height * 2 };
  };
  await assert.rejects(runTiled(pattern(20, 20), 2, run, { tile: 8, pad: 2, signal: ac.signal }), /abort/i);
  assert.equal(calls, 1);
});

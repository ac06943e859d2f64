import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RunWork } from '../../src/engine/pace.js';
import { crop, interleaved16Sink, planarSink, reflect, runTiled, spans } from '../../src/engine/tiles.js';
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
  const whole = await runTiled(image, 4, run, { tile: 64, pad: 32 }, planarSink(200, 148));
  let calls = 0;
  const tiled = await runTiled(
    image,
    4,
    run,
    { tile: 16, pad: 32, overlap: 4, onProgress: () => calls++ },
    planarSink(200, 148),
  );
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
  await assert.rejects(
    runTiled(pattern(20, 20), 2, run, { tile: 8, pad: 2, signal: ac.signal }, planarSink(40, 40)),
    /abort/i,
  );
  assert.equal(calls, 1);
});

test('each tile run is paced with its multiply-adds (context included) and the progress it takes the image from and to', async () => {
  const sizes: number[] = [];
  const run = async (t: Tile) => {
    sizes.push(t.width * t.height);
    return { data: new Float32Array(t.data.length * 4), width: t.width * 2, height: t.height * 2 };
  };
  const paced: RunWork[] = [];
  const reported: number[] = [];
  await runTiled(
    pattern(20, 12),
    2,
    run,
    {
      tile: 10,
      pad: 3,
      macsPerPixel: 1000,
      onProgress: (d, t) => reported.push(d / t),
      pace: (work, go) => {
        paced.push(work);
        return go();
      },
    },
    planarSink(40, 24),
  );
  // 2 × 2 tiles of 10 px (edge tiles slide inward to full size) with 3 px of context a side.
  assert.equal(paced.length, 4);
  assert.deepEqual(
    paced.map((w) => w.macs),
    sizes.map((px) => 1000 * px),
  );
  assert.deepEqual(sizes, [16 * 16, 16 * 16, 16 * 16, 16 * 16]);
  assert.deepEqual(
    paced.map((w) => [w.from, w.to]),
    [
      [0, 0.25],
      [0.25, 0.5],
      [0.5, 0.75],
      [0.75, 1],
    ],
  );
  assert.deepEqual(reported, [0.25, 0.5, 0.75, 1]);
});

test('tile spans cover the axis, and their blend weights sum to exactly 1 at every output pixel', () => {
  for (const [size, tile, overlap, scale] of [
    [50, 16, 4, 4],
    [37, 16, 8, 2],
    [16, 16, 4, 4],
    [100, 30, 15, 3],
    [7, 64, 8, 4],
  ] as const) {
    const s = spans(size, tile, overlap, scale);
    assert.equal(s[0]!.a, 0);
    assert.equal(s[s.length - 1]!.b, size);
    const sum = new Float64Array(size * scale);
    for (const sp of s) {
      assert.ok(sp.b - sp.a <= tile);
      sp.weights.forEach((w, x) => {
        sum[sp.a * scale + x]! += w;
      });
    }
    for (let x = 0; x < sum.length; x++)
      assert.ok(Math.abs(sum[x]! - 1) < 1e-6, `${size}/${tile}: x=${x} sums to ${sum[x]}`);
    if (s.length > 1) {
      const first = s[0]!.weights;
      assert.ok(first[first.length - 1]! < 0.5, 'a tile fades out towards its neighbour');
      assert.equal(first[0], 1, 'no fade at the image border');
    }
  }
});

test('the 16-bit sink blends, clamps to 0..1 and never wraps', () => {
  const sink = interleaved16Sink(2, 1);
  sink.add(0, 0, 0.5);
  sink.add(0, 0, 0.5);
  sink.add(1, 0, 0.75);
  sink.add(1, 0, 0.75); // 1.5 clamps
  sink.add(2, 1, -0.2); // negative contributes nothing
  const out = sink.result();
  assert.equal(out[0], 65535);
  assert.equal(out[1], 65535);
  assert.equal(out[5], 0);
});

test('the 16-bit sink gives the planar result, quantised (the direct final pass loses nothing visible)', async () => {
  const store = testStore();
  const runner = await store.open('realesrgan-x4fast');
  const image = pattern(30, 20);
  const opts = { tile: 16, pad: 32, overlap: 4 };
  const run = (t: Tile) => runner.run(t);
  const planar = await runTiled(image, 4, run, opts, planarSink(120, 80));
  const packed = await runTiled(image, 4, run, opts, interleaved16Sink(120, 80));
  const n = 120 * 80;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const want = Math.min(1, Math.max(0, planar.data[c * n + i]!));
      worst = Math.max(worst, Math.abs(packed[3 * i + c]! / 65535 - want));
    }
  }
  assert.ok(worst < 4 / 65535, `worst ${worst * 65535}/65535`);
  await store.close();
});

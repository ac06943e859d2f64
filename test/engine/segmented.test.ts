import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sharp from 'sharp';
import type { RunWork } from '../../src/engine/pace.js';
import { upscaleImage } from '../../src/engine/pipeline.js';
import { fitsOneWindow, fitsWhole, runOneWindow, runSegmented } from '../../src/engine/segmented.js';
import { crop, interleaved16Sink, planarSink } from '../../src/engine/tiles.js';
import { GraphBuilder } from '../../src/models/onnx/builder.js';
import type { RunPrecision } from '../../src/models/precision.js';
import type { Tile } from '../../src/models/runner.js';
import { segmentGraph } from '../../src/models/segments.js';
import type { SegmentGrain } from '../../src/models/store.js';
import { testStore } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const PHOTO = repoPath('bench/photos/rocket.jpg'); // 640x427, public domain (bench/photos/README.md)
const store = testStore();
after(() => store.close());

/** A crop of the real photo as RGB CHW 0..1. */
async function photo(left: number, top: number, width: number, height: number): Promise<Tile> {
  const raw = await sharp(PHOTO).extract({ left, top, width, height }).removeAlpha().raw().toBuffer();
  const n = width * height;
  const data = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[c * n + i] = raw[3 * i + c]! / 255;
  return { data, width, height };
}

/** The whole network on the whole reflected image, in one session run, border cut away. */
async function wholeImage(
  model: string,
  image: Tile,
  border: number,
  precision: RunPrecision = 'fp32',
): Promise<Tile> {
  const runner = await store.open(model, 4, precision);
  const [w, h] = [image.width + 2 * border, image.height + 2 * border];
  const out = await runner.run({ data: crop(image, -border, -border, w, h), width: w, height: h });
  const s = out.width / w;
  return {
    data: crop(out, border * s, border * s, image.width * s, image.height * s),
    width: image.width * s,
    height: image.height * s,
  };
}

function maxDiff(a: Tile, b: Tile): number {
  assert.deepEqual([a.width, a.height], [b.width, b.height]);
  let worst = 0;
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  for (let i = 0; i < a.data.length; i++)
    worst = Math.max(worst, Math.abs(clamp(a.data[i]!) - clamp(b.data[i]!)));
  return worst;
}

const cases: [string, SegmentGrain, number, number, RunPrecision][] = [
  // model, grain, crop side, budget (bytes), precision: small budgets force many tiles and, for
  // x4fast, regions. int8 tiled is held to int8 whole (static ranges: a tile sees the same
  // quantization as the whole image).
  ['realesrgan-x4fast', 'fine', 120, 2 ** 20, 'fp32'],
  ['realesrgan-x4fast', 'coarse', 120, 2 ** 30, 'fp32'],
  ['realesrgan-x4fast', 'fine', 96, 2 ** 20, 'int8'],
  ['rrdn-thick', 'fine', 72, 24 * 2 ** 20, 'fp32'],
  ['rrdn-thick', 'fine', 48, 8 * 2 ** 20, 'int8'],
  ['rrdn-slim', 'fine', 100, 2 ** 20, 'fp32'],
  ['rrdn-medium', 'fine', 100, 4 * 2 ** 20, 'fp32'],
  ['realesrgan-x4plus', 'fine', 56, 24 * 2 ** 20, 'fp32'],
];

for (const [model, grain, side, budget, precision] of cases) {
  test(`${model} ${precision}, ${grain} cut, ${budget < 2 ** 30 ? `tiled under ${budget / 2 ** 20} MiB` : 'in one window'}: equal to a whole-image run within 1/255 on a real photo`, async () => {
    const image = await photo(300, 150, side, Math.round(side * 0.75));
    using lease = await store.openSegmented(model, 4, grain, precision);
    assert.ok(lease, `${model} is segmented`);
    const runner = lease.runner;
    let calls = 0;
    let last = 0;
    const reported: number[] = [];
    const paced: RunWork[] = [];
    const out = await runSegmented(
      image,
      runner,
      {
        budget,
        border: 16,
        onProgress: (d, t) => {
          calls++;
          assert.ok(d > last && d <= t, 'progress only grows');
          last = d;
          reported.push(d / t);
        },
        pace: (work, run) => {
          paced.push(work);
          return run();
        },
      },
      planarSink(image.width * 4, image.height * 4),
    );
    const diff = maxDiff(out, await wholeImage(model, image, 16, precision));
    assert.ok(diff <= 1 / 255, `max difference ${(diff * 255).toFixed(4)}/255`);
    // Every window run is paced, announced from the progress before it to the progress it reports.
    assert.equal(paced.length, calls);
    paced.forEach((work, i) => {
      assert.deepEqual([work.from, work.to], [reported[i - 1] ?? 0, reported[i]], `run ${i}`);
    });
    // Windows overlap by their halos: together they do at least the whole network over the image.
    const macs = paced.reduce((n, w) => n + w.macs, 0);
    const least = runner.segments.reduce((n, seg) => n + seg.macs, 0) * image.width * image.height;
    assert.ok(macs >= least, `${macs} multiply-adds paced, the image takes ${least}`);
    assert.ok(calls >= runner.segments.length, `${calls} progress calls`);
    if (budget < 2 ** 30) assert.ok(calls > runner.segments.length, 'the budget made it tile');
  });
}

test('the fine cut of x4plus falls between RRDBs; the coarse one is trunk | tail', async () => {
  const plans = (await store.segmentPlans('realesrgan-x4plus', 4))!;
  assert.equal(plans.coarse.segments.length, 2);
  // 23 RRDBs of 15 convs (15 px of halo each) plus the first conv: cut about every 3 RRDBs.
  const fine = plans.fine.segments;
  assert.ok(fine.length >= 8 && fine.length <= 10, `${fine.length} segments`);
  assert.equal(plans.fine.totalHalo, plans.coarse.totalHalo, 'both cuts see the same receptive field');
  const tail = fine[fine.length - 1]!;
  assert.equal(tail.scale, 4);
  assert.ok(tail.halo <= 2, `tail halo ${tail.halo}`);
  // Between segments only the first conv's features and the running trunk cross (64 + 64).
  for (const s of fine.slice(1, -1)) {
    assert.ok(s.inputs.reduce((n, t) => n + t.channels, 0) <= 128, `${s.inputs.map((t) => t.name)}`);
  }
});

test('int8 graphs get a fine cut too: rrdn-thick int8 is cut between its RRDBs like fp32, not left with its 153 px trunk halo', async () => {
  // The trunk's first feature map crosses every boundary (the last trunk Add reads it) and fed a
  // quantized Conv at the start: only readers after a boundary may forbid it.
  const fp32 = (await store.segmentPlans('rrdn-thick', 4, 'fp32'))!;
  const int8 = (await store.segmentPlans('rrdn-thick', 4, 'int8'))!;
  assert.equal(int8.coarse.segments.length, 2);
  const fine = int8.fine.segments;
  assert.ok(
    fine.length >= fp32.fine.segments.length,
    `${fine.length} int8 segments, fp32 ${fp32.fine.segments.length}`,
  );
  assert.equal(int8.fine.totalHalo, int8.coarse.totalHalo, 'both cuts see the same receptive field');
  for (const seg of fine.slice(0, -1)) assert.ok(seg.halo <= 32, `trunk segment halo ${seg.halo}`);
  assert.ok(int8.coarse.segments[0]!.halo > 150, 'the coarse trunk is one segment');
});

test('x4plus runs a photo whose trunk fits the budget whole; a larger one, or one past ~2½ min of work in one window, takes the fine cut', async () => {
  const plans = (await store.segmentPlans('realesrgan-x4plus', 4))!;
  assert.equal(fitsWhole(plans.coarse, 3 * 2 ** 30, 20, 15, 16), true);
  assert.equal(fitsWhole(plans.coarse, 3 * 2 ** 30, 400, 300, 16), true);
  // rocket.jpg's size: 632×432 px with its border in one trunk window, ~1.6 GB of it.
  assert.equal(fitsWhole(plans.coarse, 3 * 2 ** 30, 640, 427, 16), true);
  assert.equal(fitsWhole(plans.coarse, 1 * 2 ** 30, 640, 427, 16), false, 'budget');
  assert.equal(fitsWhole(plans.coarse, 3 * 2 ** 30, 2000, 1500, 16), false, 'budget');
  // 1632×1032 px × 16.6 M multiply-adds per px of trunk > ONE_WINDOW_MACS, whatever the budget:
  // the trunk would hold the thread too long in one window.
  assert.equal(fitsWhole(plans.coarse, 64 * 2 ** 30, 1600, 1000, 16), false, 'one run too long');
  assert.equal(fitsWhole(plans.coarse, 64 * 2 ** 30, 1200, 800, 16), true);
});

test('EXPECTED FAILURE - a graph with a strided convolution is not segmented, and says why', () => {
  const g = new GraphBuilder('strided');
  const w = g.tensor('w', new Float32Array(3 * 3 * 9), [3, 3, 3, 3]);
  const y = g.node('Conv', [g.input('input', [1, 3, 'h', 'w']), w], {
    kernel_shape: [3, 3],
    strides: [2, 2],
    pads: [1, 1, 1, 1],
  });
  g.output(y, 'output', [1, 3, 'oh', 'ow']);
  const plan = segmentGraph(g.toBytes());
  assert.equal(typeof plan, 'string');
  assert.match(plan as string, /stride 2x2/);
});

test('EXPECTED FAILURE - an aborted signal stops a segmented run before its next tile', async () => {
  using lease = (await store.openSegmented('realesrgan-x4fast', 4, 'fine'))!;
  const runner = lease.runner;
  const image = await photo(0, 0, 96, 64);
  const ac = new AbortController();
  const runSegment = runner.runSegment.bind(runner);
  let windows = 0;
  runner.runSegment = (...a) => {
    windows++;
    return runSegment(...a);
  };
  try {
    await assert.rejects(
      runSegmented(
        image,
        runner,
        { budget: 2 ** 20, border: 16, signal: ac.signal, onProgress: () => ac.abort() },
        planarSink(384, 256),
      ),
      { name: 'AbortError' },
    );
  } finally {
    runner.runSegment = runSegment;
  }
  assert.equal(windows, 1, 'no window ran after the abort');
});

test('a large image takes the fine cut, so progress comes every segment; a photo the coarse one', async () => {
  const plans = (await store.segmentPlans('realesrgan-x4fast', 4))!;
  assert.ok(plans.fine.segments.length >= 3, `${plans.fine.segments.length} segments`);
  assert.equal(fitsWhole(plans.coarse, 2 ** 30, 6000, 4000, 16), false, 'a 24 MP image: fine');
  assert.equal(fitsWhole(plans.coarse, 2 ** 30, 640, 427, 16), true, 'a photo: coarse');
  using lease = (await store.openSegmented('realesrgan-x4fast', 4, 'fine'))!;
  const runner = lease.runner;
  // 96 px + 2 × 16 px of border = 128 px: within one tail window as well (TAIL_SIDE). The first
  // segment computes the border too (later halos read it), hence its larger share.
  const image = await photo(0, 0, 96, 96);
  const seen: number[] = [];
  await runSegmented(
    image,
    runner,
    { budget: 2 ** 30, border: 16, onProgress: (d, t) => seen.push(d / t) },
    planarSink(384, 384),
  );
  assert.equal(seen.length, runner.segments.length, 'one window per segment, one report each');
  assert.ok(seen[0]! > 0 && seen[0]! < 0.75, seen.map((f) => f.toFixed(2)).join(' '));
  assert.equal(seen.at(-1), 1);
});

test('the pipeline tiles exactly by default, with context under tiling: context or with an explicit tile', async () => {
  const input = await sharp(PHOTO).extract({ left: 200, top: 100, width: 48, height: 32 }).png().toBuffer();
  const exact = await upscaleImage(store, input, { model: 'realesrgan-x4fast' });
  const context = await upscaleImage(store, input, { model: 'realesrgan-x4fast', tile: 24 });
  const hatch = await upscaleImage(store, input, { model: 'realesrgan-x4fast', tiling: 'context' });
  assert.equal(exact.info.tiling, 'exact');
  assert.equal(context.info.tiling, 'context');
  assert.equal(hatch.info.tiling, 'context');
  const [a, b] = await Promise.all([exact.data, context.data].map((d) => sharp(d).raw().toBuffer()));
  assert.equal(a!.length, 192 * 128 * 3);
  // Both see the image with a reflected border; away from it they agree to within the old
  // path's blending tolerance (2/255), which shows the exact path is the same network.
  let worst = 0;
  for (let y = 40; y < 88; y++)
    for (let x = 40; x < 152; x++)
      for (let c = 0; c < 3; c++)
        worst = Math.max(worst, Math.abs(a![(y * 192 + x) * 3 + c]! - b![(y * 192 + x) * 3 + c]!));
  assert.ok(worst <= 2, `max difference ${worst}/255`);
});

test('x4fast runs a photo in one window with no cut; x4plus (wide tail), a small budget or a large image do not', async () => {
  const x4fast = (await store.segmentPlans('realesrgan-x4fast', 4))!.coarse;
  const x4plus = (await store.segmentPlans('realesrgan-x4plus', 4))!.coarse;
  assert.equal(fitsOneWindow(x4fast, 3 * 2 ** 30, 640, 427, 16), true);
  assert.equal(fitsOneWindow(x4fast, 256 * 2 ** 20, 640, 427, 16), false, 'budget');
  // 20 MP × 1.2 M multiply-adds a px: past ONE_WINDOW_MACS, whatever the budget.
  assert.equal(fitsOneWindow(x4fast, 64 * 2 ** 30, 5000, 4000, 16), false, 'one run too long');
  assert.equal(fitsOneWindow(x4fast, 3 * 2 ** 30, 2400, 1700, 16), false, 'budget');
  // The tail holds ~2048 channels an input px at 4×: ~4 GB of arena for the photo.
  assert.equal(fitsOneWindow(x4plus, 3 * 2 ** 30, 640, 427, 16), false, 'x4plus tail');
});

test('one window and the coarse cut give the same 16-bit pixels (x4fast, real photo), progress once at the end, the run paced with its multiply-adds', async () => {
  const image = await photo(200, 100, 160, 120);
  const sink = () => interleaved16Sink(image.width * 4, image.height * 4);
  const seen: number[] = [];
  const paced: RunWork[] = [];
  const plan = (await store.segmentPlans('realesrgan-x4fast', 4))!.coarse;
  const one = await runOneWindow(
    image,
    await store.open('realesrgan-x4fast'),
    plan,
    {
      border: 16,
      onProgress: (d, t) => seen.push(d / t),
      pace: (work, run) => {
        paced.push(work);
        return run();
      },
    },
    sink(),
  );
  // SRVGGNetCompact x4fast: 1.2 M multiply-adds an input px; the run covers the 192x152 bordered image.
  assert.equal(paced.length, 1);
  assert.deepEqual([paced[0]!.from, paced[0]!.to], [0, 1]);
  assert.ok(Math.abs(paced[0]!.macs / (192 * 152) / 1.2e6 - 1) < 0.1, `${paced[0]!.macs} multiply-adds`);
  using lease = await store.openSegmented('realesrgan-x4fast', 4, 'coarse');
  assert.ok(lease, 'x4fast is segmented');
  const cut = await runSegmented(image, lease.runner, { budget: 2 ** 30, border: 16 }, sink());
  let worst = 0;
  for (let i = 0; i < one.length; i++) worst = Math.max(worst, Math.abs(one[i]! - cut[i]!));
  assert.ok(worst <= 65535 / 255, `max difference ${worst}/65535`);
  assert.deepEqual(seen, [1]);
});

test('EXPECTED FAILURE - an aborted signal stops a one-window run before it starts', async () => {
  const runner = await store.open('realesrgan-x4fast');
  const ac = new AbortController();
  ac.abort();
  const run = runner.run.bind(runner);
  let runs = 0;
  runner.run = (...a) => {
    runs++;
    return run(...a);
  };
  try {
    await assert.rejects(
      runOneWindow(
        await photo(0, 0, 32, 32),
        runner,
        (await store.segmentPlans('realesrgan-x4fast', 4))!.coarse,
        { border: 16, signal: ac.signal },
        planarSink(128, 128),
      ),
      { name: 'AbortError' },
    );
  } finally {
    runner.run = run;
  }
  assert.equal(runs, 0);
});

test('the pipeline runs a small x4fast photo in one window and reports it as exact', async () => {
  const input = await sharp(PHOTO).extract({ left: 200, top: 100, width: 48, height: 32 }).png().toBuffer();
  const seen: number[] = [];
  const r = await upscaleImage(
    store,
    input,
    { model: 'realesrgan-x4fast' },
    { onProgress: (f) => seen.push(f) },
  );
  assert.equal(r.info.tiling, 'exact');
  assert.deepEqual(seen, [1]);
});

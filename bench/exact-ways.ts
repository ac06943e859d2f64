/**
 * bench/exact-ways — the exact ways to run a photo through a segmentable network, side by side in
 * one process (issue 12): one window over the image and its reflected border (with and without
 * giving the session's arena back after the run), the coarse cut and the fine cut (each run
 * whole, under a budget they fit), and whole-network windows with the network's full receptive
 * halo (`plan.totalHalo`, exact): square tiles and full-width strips of the given sides.
 * Rounds alternate the ways so a busy machine slows all alike; prints the median wall ms, the
 * median CPU ms (user+sys), the first (cold) run's wall ms, kpx/s of the photo and each way's
 * max difference from the first way (/255; the one window's is the definition of the exact
 * result). `--budget` runs the cuts under that memory budget instead of one they fit whole, so
 * they tile: tiled against whole for any model and precision, e.g. x4plus int8
 * `--precision=int8 --crop=160x120 --budget=24M --ways=one,coarse,fine --rounds=1`.
 *
 *   node --expose-gc dist/bench/exact-ways.js --model=realesrgan-x4fast --photo=rocket.jpg \
 *        [--rounds=3 --tiles=192,320 --strips=96,192 --border=16 --crop=WxH --precision=fp32|int8
 *         --budget=64M]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { decode } from '../src/engine/decode.js';
import { parseByteSize } from '../src/engine/memory.js';
import { runOneWindow, runSegmented, spread } from '../src/engine/segmented.js';
import { crop, planarSink } from '../src/engine/tiles.js';
import type { RunPrecision } from '../src/models/precision.js';
import type { ModelRunner, Tile } from '../src/models/runner.js';
import { median } from './lib/measure.js';
import { BENCH_LIMITS, cpuMs, gc, PROBE_OPTIONS, photoPath, probeStore } from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    ...PROBE_OPTIONS,
    crop: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    tiles: { type: 'string', default: '' },
    strips: { type: 'string', default: '' },
    ways: { type: 'string', default: 'one,coarse,fine' },
    border: { type: 'string', default: '16' },
    precision: { type: 'string', default: 'fp32' },
    budget: { type: 'string' },
  },
});
const BIG_BUDGET = 16 * 2 ** 30;
const budget = args.budget === undefined ? BIG_BUDGET : parseByteSize(args.budget);
if (budget === undefined) throw new RangeError(`--budget: a size such as 64M, got ${args.budget}`);
const underBudget = args.budget === undefined ? '' : ` @${args.budget}`;

const store = probeStore(args.cache);
const model = args.model;
const d = await decode(photoPath(args.photo), BENCH_LIMITS);
let image: Tile = { data: d.rgb, width: d.width, height: d.height };
if (args.crop) {
  const [cw, ch] = args.crop.split('x').map(Number) as [number, number];
  const [x, y] = [(d.width - cw) >> 1, (d.height - ch) >> 1];
  image = { data: crop(image, x, y, cw, ch), width: cw, height: ch };
}
const B = Number(args.border);
const precision = args.precision as RunPrecision;
if (precision !== 'fp32' && precision !== 'int8')
  throw new RangeError(`--precision: fp32 or int8, got ${precision}`);
const plans = (await store.segmentPlans(model, 4, precision))!;
const halo = plans.coarse.totalHalo;
const runner = await store.open(model, 4, precision);
const coarse = (await store.openSegmented(model, 4, 'coarse', precision))!;
const fine = (await store.openSegmented(model, 4, 'fine', precision))!;
const s = runner.scale;

/** Whole-network windows of (side + 2·halo) over the padded image: exact (halo = receptive radius). */
async function windows(tileW: number, tileH: number): Promise<Tile> {
  const [PW, PH] = [image.width + 2 * B, image.height + 2 * B];
  const padded = { data: crop(image, -B, -B, PW, PH), width: PW, height: PH };
  const sink = planarSink(image.width * s, image.height * s);
  for (const ty of spread(B, B + image.height, halo, PH, tileH)) {
    for (const tx of spread(B, B + image.width, halo, PW, tileW)) {
      const [ww, wh] = [tx.w1 - tx.w0, ty.w1 - ty.w0];
      const out = await run(runner, { data: crop(padded, tx.w0, ty.w0, ww, wh), width: ww, height: wh });
      const plane = out.width * out.height;
      for (let y = (ty.a - ty.w0) * s; y < (ty.b - ty.w0) * s; y++) {
        const to = ((ty.w0 - B) * s + y) * sink.width + (tx.a - B) * s;
        const from = y * out.width + (tx.a - tx.w0) * s;
        for (let c = 0; c < 3; c++) sink.put(c, to, out.data, c * plane + from, (tx.b - tx.a) * s);
      }
    }
  }
  return sink.result();
}
const run = (r: ModelRunner, t: Tile) => r.run(t);

/** Session runs (windows × segments) a way makes: counted on its warm-up, to show it tiled. */
let sessionRuns = 0;
for (const r of [runner, coarse.runner, fine.runner] as { run?: unknown; runSegment?: unknown }[]) {
  for (const m of ['run', 'runSegment'] as const) {
    const f = r[m] as ((...a: unknown[]) => Promise<unknown>) | undefined;
    if (!f) continue;
    r[m] = (...a: unknown[]) => {
      sessionRuns++;
      return f.apply(r, a);
    };
  }
}

const sink = () => planarSink(image.width * s, image.height * s);
const ways: [string, () => Promise<Tile>][] = [];
for (const w of args.ways!.split(',').filter(Boolean)) {
  if (w === 'one') ways.push([w, () => runOneWindow(image, runner, plans.coarse, { border: B }, sink())]);
  if (w === 'coarse')
    ways.push([
      `${w}${underBudget}`,
      () => runSegmented(image, coarse.runner, { border: B, budget }, sink()),
    ]);
  if (w === 'fine')
    ways.push([`${w}${underBudget}`, () => runSegmented(image, fine.runner, { border: B, budget }, sink())]);
}
for (const t of args.tiles!.split(',').filter(Boolean).map(Number))
  ways.push([`tiles ${t}+2·${halo}`, () => windows(t, t)]);
for (const t of args.strips!.split(',').filter(Boolean).map(Number))
  ways.push([`strips ${t}+2·${halo}`, () => windows(Number.POSITIVE_INFINITY, t)]);

console.log(
  `${model} ${precision} on ${args.photo} ${image.width}x${image.height}, border ${B}, total halo ${halo}; load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
const wall = new Map<string, number[]>();
const cpu = new Map<string, number[]>();
const diff = new Map<string, number>();
const first = new Map<string, number>();
const runsOf = new Map<string, number>();
let reference: Float32Array | undefined;
for (const [name, fn] of ways) {
  // Warm-up: opens shapes, pre-packs weights; also the exactness check against the first way.
  // Timed on its own: a cut whose sessions open one at a time pays this on every run.
  const t = performance.now();
  sessionRuns = 0;
  const out = (await fn()).data;
  first.set(name, performance.now() - t);
  runsOf.set(name, sessionRuns);
  reference ??= out;
  let m = 0;
  for (let i = 0; i < out.length; i++) m = Math.max(m, Math.abs(out[i]! - reference[i]!));
  diff.set(name, m * 255);
}
for (let r = 0; r < Number(args.rounds); r++) {
  for (const [name, fn] of r % 2 ? [...ways].reverse() : ways) {
    gc();
    const [t, c] = [performance.now(), cpuMs()];
    await fn();
    wall.set(name, [...(wall.get(name) ?? []), performance.now() - t]);
    cpu.set(name, [...(cpu.get(name) ?? []), cpuMs() - c]);
  }
}
const px = image.width * image.height;
const base = median(wall.get(ways[0]![0])!);
console.log(
  formatTable(
    ['way', 'session runs', 'first ms', 'wall ms', 'cpu ms', 'kpx/s', `vs ${ways[0]![0]}`, 'max diff /255'],
    ways.map(([name]) => {
      const w = median(wall.get(name)!);
      return [
        name,
        runsOf.get(name)!,
        fmt(first.get(name)!, 0),
        fmt(w, 0),
        fmt(median(cpu.get(name)!), 0),
        (px / w).toFixed(1),
        (base / w).toFixed(2),
        diff.get(name)!.toExponential(1),
      ];
    }),
  ),
);
coarse.release();
fine.release();
await store.close();

/**
 * bench/prelu-probe — onnxruntime's PRelu against the branch-free split Pixelift's CPU
 * sessions run (src/models/onnx/prelu.ts), on one network over one real photo, fp32 and int8:
 * two sessions with the pipeline's options, one on the graph as stored and one on the split
 * graph, run alternately on the whole photo; then the same pair on a flat grey input of the
 * same size, to show how much of PRelu's time follows the picture (its branch). Prints median
 * ms a run, their ratio and the largest output difference. With --e2e, also the whole pipeline
 * (file in, PNG out) on two model stores in one process, one whose sessions run the stored graph
 * (SessionSettings.splitPRelu false) and one as shipped, alternated round by round.
 *
 *   node dist/bench/prelu-probe.js [--model=realesrgan-x4fast --photo=rocket.jpg --rounds=3
 *        --precisions=fp32,int8 --e2e]
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { decode } from '../src/engine/decode.js';
import { upscaleImage } from '../src/engine/pipeline.js';
import { splitPRelu } from '../src/models/onnx/prelu.js';
import type { RunPrecision } from '../src/models/precision.js';
import { sessionOptions } from '../src/models/session.js';
import { median } from './lib/measure.js';
import { BENCH_LIMITS, PROBE_OPTIONS, photoPath, probeStore } from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    ...PROBE_OPTIONS,
    rounds: { type: 'string', default: '3' },
    precisions: { type: 'string', default: 'fp32,int8' },
    e2e: { type: 'boolean', default: false },
  },
});

const threads = os.availableParallelism();
// createSession's options, without its graph rewrite.
const options = sessionOptions({ device: 'cpu', threads, graphOptimizationLevel: 'all' }, 'cpu');

const { data, info } = await sharp(photoPath(args.photo))
  .removeAlpha()
  .raw()
  .toBuffer({ resolveWithObject: true });
const [W, H] = [info.width, info.height];
const photo = new Float32Array(3 * W * H);
for (let i = 0; i < W * H; i++) for (let c = 0; c < 3; c++) photo[c * W * H + i] = data[3 * i + c]! / 255;
const grey = new Float32Array(3 * W * H).fill(0.5);

const store = probeStore(args.cache);
const rounds = Number(args.rounds);
console.log(
  `prelu-probe — ${args.model} on ${args.photo} (${W}x${H}, whole), ${threads} threads, load ${os.loadavg()[0]!.toFixed(1)}, ${rounds} rounds alternating`,
);
const rows: (string | number)[][] = [];
for (const precision of args.precisions!.split(',') as RunPrecision[]) {
  const prep = await store.prepare(args.model!, 4, precision);
  const bytes = fs.readFileSync(prep.onnxPath);
  const split = splitPRelu(bytes);
  if (!split) {
    console.log(`${args.model} ${precision}: no PRelu to split`);
    continue;
  }
  const stored = await ort.InferenceSession.create(bytes, options);
  const branchFree = await ort.InferenceSession.create(split, options);
  const input = stored.inputNames[0]!;
  for (const [what, x] of [
    ['photo', photo],
    ['grey', grey],
  ] as const) {
    const feeds = { [input]: new ort.Tensor('float32', x, [1, 3, H, W]) };
    const ms: Record<'stored' | 'split', number[]> = { stored: [], split: [] };
    let out: Record<'stored' | 'split', Float32Array> | undefined;
    for (let r = 0; r < rounds + 1; r++) {
      const got: Partial<Record<'stored' | 'split', Float32Array>> = {};
      for (const [k, s] of [
        ['stored', stored],
        ['split', branchFree],
      ] as const) {
        const t = performance.now();
        got[k] = (await s.run(feeds))[s.outputNames[0]!]!.data as Float32Array;
        // The first round opens the arenas: not timed.
        if (r > 0) ms[k].push(performance.now() - t);
      }
      out = got as Record<'stored' | 'split', Float32Array>;
    }
    let diff = 0;
    for (let i = 0; i < out!.stored.length; i++)
      diff = Math.max(diff, Math.abs(out!.stored[i]! - out!.split[i]!));
    rows.push([
      precision,
      what,
      fmt(median(ms.stored), 4),
      fmt(median(ms.split), 4),
      `${(median(ms.stored) / median(ms.split)).toFixed(2)}x`,
      diff.toExponential(1),
    ]);
    console.error(`  ${rows.at(-1)!.join('  ')}`);
  }
  await stored.release();
  await branchFree.release();
}
await store.close();
console.log(
  `\n${formatTable(['precision', 'input', 'PRelu ms', 'split ms', 'speed-up', 'max |diff|'], rows)}`,
);
console.log(
  '\nPRelu: the graph as stored, onnxruntime’s PRelu kernel; split: x + (1 − a)·Relu(−x), as createSession runs it on CPU; ms: median of the rounds a whole-photo run; max |diff|: largest output difference (0..1 scale) on that input.',
);

if (args.e2e) {
  // The pipeline as a user runs it, once per store and round; the first round (sessions opening) untimed.
  const stores = {
    stored: probeStore(args.cache, threads, { splitPRelu: false }),
    split: probeStore(args.cache, threads),
  };
  const file = photoPath(args.photo);
  const e2eRows: (string | number)[][] = [];
  for (const precision of args.precisions!.split(',') as RunPrecision[]) {
    const opts = { model: args.model, precision, scale: 4, format: 'png' as const };
    const ms: Record<'stored' | 'split', number[]> = { stored: [], split: [] };
    const png: Partial<Record<'stored' | 'split', Buffer>> = {};
    for (let r = 0; r < rounds + 1; r++)
      for (const k of ['stored', 'split'] as const) {
        const t = performance.now();
        png[k] = (await upscaleImage(stores[k], file, opts)).data;
        if (r > 0) ms[k].push(performance.now() - t);
      }
    // The PNGs' pixels as stored: sharp's raw output would pass them through their ICC profile.
    const [a, b] = await Promise.all([png.stored!, png.split!].map((p) => decode(p, BENCH_LIMITS)));
    let levels = 0;
    for (let i = 0; i < a!.rgb.length; i++)
      levels = Math.max(levels, Math.abs(a!.rgb[i]! - b!.rgb[i]!) * 255);
    e2eRows.push([
      precision,
      fmt(median(ms.stored), 4),
      fmt(median(ms.split), 4),
      `${(median(ms.stored) / median(ms.split)).toFixed(2)}x`,
      fmt(levels, 3),
    ]);
    console.error(`  e2e ${e2eRows.at(-1)!.join('  ')}`);
  }
  await Promise.all([stores.stored.close(), stores.split.close()]);
  console.log(
    `\nEnd to end (${args.photo} → ×4 PNG, load ${os.loadavg()[0]!.toFixed(1)}):\n${formatTable(['precision', 'PRelu ms', 'split ms', 'speed-up', 'max |diff| /255'], e2eRows)}`,
  );
}

/**
 * bench/border-probe — how the kept pixels depend on the reflected border (issue 12): a photo
 * crop runs in one window with each border b, and its kept output is compared with the run under
 * a large border (`--reference`, default 48 px): max |difference| over the kept pixels in /255,
 * and over the pixels at least 8 input px from the crop's edge (where only a wide halo reaches).
 * Also prints each run's wall ms, to weigh what a smaller border saves.
 *
 *   node dist/bench/border-probe.js --model=realesrgan-x4fast --photo=rocket.jpg --crop=256x192 \
 *        [--borders=0,4,8,12,16 --reference=48]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { decode } from '../src/engine/decode.js';
import { runOneWindow } from '../src/engine/segmented.js';
import { crop, planarSink } from '../src/engine/tiles.js';
import type { Tile } from '../src/models/runner.js';
import { BENCH_LIMITS, PROBE_OPTIONS, photoPath, probeStore } from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    ...PROBE_OPTIONS,
    crop: { type: 'string' },
    at: { type: 'string', default: 'center' },
    borders: { type: 'string', default: '0,4,8,12,16' },
    reference: { type: 'string', default: '48' },
  },
});

const store = probeStore(args.cache);
const d = await decode(photoPath(args.photo), BENCH_LIMITS);
let image: Tile = { data: d.rgb, width: d.width, height: d.height };
if (args.crop) {
  const [cw, ch] = args.crop.split('x').map(Number) as [number, number];
  const [x, y] = args.at === 'corner' ? [0, 0] : [(d.width - cw) >> 1, (d.height - ch) >> 1];
  image = { data: crop(image, x, y, cw, ch), width: cw, height: ch };
}
const runner = await store.open(args.model!, 4);
const plan = (await store.segmentPlans(args.model!, 4))!.coarse;
const s = runner.scale;
const [OW, OH] = [image.width * s, image.height * s];
const upscale = async (border: number) => {
  const t = performance.now();
  const out = await runOneWindow(image, runner, plan, { border }, planarSink(OW, OH));
  return { data: out.data, ms: performance.now() - t };
};
console.log(
  `${args.model} on ${args.photo} ${image.width}x${image.height} (${args.at}); load ${os.loadavg()[0]!.toFixed(2)}`,
);
await upscale(0); // warm-up
const ref = await upscale(Number(args.reference));
const rows = [];
for (const b of args.borders!.split(',').map(Number)) {
  const r = await upscale(b);
  let all = 0;
  let inner = 0;
  const margin = 8 * s;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < OH; y++) {
      for (let x = 0; x < OW; x++) {
        const i = c * OW * OH + y * OW + x;
        const v = Math.abs(r.data[i]! - ref.data[i]!);
        all = Math.max(all, v);
        if (x >= margin && y >= margin && x < OW - margin && y < OH - margin) inner = Math.max(inner, v);
      }
    }
  }
  rows.push([b, fmt(all * 255, 3), fmt(inner * 255, 3), fmt(r.ms, 0)]);
}
console.log(formatTable(['border', `max diff /255 vs ${args.reference}`, '≥ 8 px in', 'ms'], rows));
console.log(`reference border ${args.reference}: ${fmt(ref.ms, 0)} ms`);
await store.close();

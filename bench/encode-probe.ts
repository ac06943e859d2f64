/**
 * bench/encode-probe — where an end-to-end run's time goes (decode / infer / encode, from
 * upscaleImage's info.timings), and what sharp's PNG options do to the encode of that same
 * output (issue 12): the run's pixels are re-encoded from 16-bit interleaved RGB, as the
 * pipeline hands them to sharp, at each zlib compression level (rounds alternate the levels);
 * prints median ms and the file size.
 *
 *   node dist/bench/encode-probe.js --model=realesrgan-x4fast --photo=rocket.jpg [--levels=6,4,3,2,1]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { upscaleImage } from '../src/engine/pipeline.js';
import { median } from './lib/measure.js';
import { PROBE_OPTIONS, photoPath, probeStore } from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const { values: args } = parseArgs({
  options: {
    ...PROBE_OPTIONS,
    levels: { type: 'string', default: '6,4,3,2,1' },
    runs: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
  },
});

const store = probeStore(args.cache);
const photo = photoPath(args.photo);
const opts = { model: args.model, precision: 'fp32' as const, scale: 4 };
console.log(`${args.model} on ${args.photo}; load ${os.loadavg()[0]!.toFixed(2)}`);
await upscaleImage(store, photo, opts); // warm-up: sessions open, shapes allocated
const shares: string[][] = [];
let png: Buffer | undefined;
for (let r = 0; r < Number(args.runs); r++) {
  const t = performance.now();
  const res = await upscaleImage(store, photo, opts);
  const total = performance.now() - t;
  const { decodeMs, inferMs, encodeMs } = res.info.timings;
  png = res.data;
  const pc = (ms: number) => `${ms} (${fmt((100 * ms) / total, 2)} %)`;
  shares.push([String(r + 1), fmt(total, 0), pc(decodeMs), pc(inferMs), pc(encodeMs)]);
}
console.log(formatTable(['run', 'total ms', 'decode ms', 'infer ms', 'encode ms'], shares));

const { data, info } = await sharp(png!).raw().toBuffer({ resolveWithObject: true });
const rgb16 = new Uint16Array(data.length);
for (let i = 0; i < data.length; i++) rgb16[i] = data[i]! * 257;
const { width, height } = info;
const levels = args.levels!.split(',').map(Number);
const ms = new Map<number, number[]>();
const bytes = new Map<number, number>();
for (let r = 0; r < Number(args.rounds); r++) {
  for (const level of r % 2 ? [...levels].reverse() : levels) {
    const t = performance.now();
    const out = await sharp(rgb16, { raw: { width, height, channels: 3 } })
      .toColourspace('srgb')
      .png({ compressionLevel: level })
      .toBuffer();
    ms.set(level, [...(ms.get(level) ?? []), performance.now() - t]);
    bytes.set(level, out.length);
  }
}
console.log(`${width}x${height} PNG from 16-bit RGB, median of ${args.rounds}:`);
console.log(
  formatTable(
    ['compressionLevel', 'ms', 'MB'],
    levels.map((l) => [l, fmt(median(ms.get(l)!), 0), fmt(bytes.get(l)! / 2 ** 20, 3)]),
  ),
);
await store.close();

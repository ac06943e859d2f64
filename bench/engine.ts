/**
 * bench:engine — one image through the whole pipeline (decode → tiles × realesrgan-x4fast →
 * encode PNG) at 6, 24 and 96 MP of output, each in a fresh process so its peak RSS is its own.
 * Target (engine issue): 1500x1000 → 6000x4000 (24 MP) with peak RSS < 1.5 GB; time should grow
 * linearly with output pixels and memory should stay flat.
 *
 *   npm run bench:engine [-- --sizes=6,24,96 --model=realesrgan-x4fast --tile=N (default: the model's)]
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { upscaleImage } from '../src/engine/pipeline.js';
import { silentLogger } from '../src/log.js';
import { ModelStore } from '../src/models/store.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k!, v ?? 'true'] as const;
  }),
);

if (args.has('child')) {
  await child();
} else {
  await parent();
}

/** One run: prints a JSON line with timings and peak RSS. */
async function child(): Promise<void> {
  const input = args.get('input')!;
  const store = new ModelStore({
    modelCacheDir: args.get('cache')!,
    modelsDir: path.join(args.get('cache')!, 'none'),
    session: { device: 'cpu', threads: os.availableParallelism(), graphOptimizationLevel: 'all' },
    log: silentLogger,
    packageRoot: root,
  });
  await store.prepare(args.get('model')!); // conversion is not what is measured
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const r = await upscaleImage(store, input, {
    model: args.get('model'),
    scale: 4,
    tile: args.has('tile') ? Number(args.get('tile')) : undefined,
    limits: { maxInputBytes: 2 ** 31, maxInputMegapixels: 100, maxSide: 65535, maxOutputMegapixels: 1000 },
  });
  const ms = performance.now() - t0;
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ ms, peak, rssBefore, info: r.info }));
  await store.close();
}

async function parent(): Promise<void> {
  const sizes = (args.get('sizes') ?? '6,24,96').split(',').map(Number);
  const model = args.get('model') ?? 'realesrgan-x4fast';
  const tile = args.get('tile');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-engine-'));
  const cache = path.join(dir, 'cache');
  console.log(
    `bench:engine — ${model}, 4x, tile ${tile ?? 'default'}, ${os.availableParallelism()} cores, PNG out`,
  );
  console.log(
    'output MP  input       output        time s  kpx/s in  peak RSS MB  RSS before MB  decode/infer/encode s',
  );
  const rows: { mp: number; s: number; peak: number }[] = [];
  for (const mp of sizes) {
    // Output w x h with a 3:2 aspect; the input is a quarter of each side.
    const h = Math.round(Math.sqrt((mp * 1e6) / 1.5) / 4);
    const w = Math.round(h * 1.5);
    const input = path.join(dir, `in-${w}x${h}.png`);
    // A photo-like input: the fixture photo tiled and resized, with fine noise for texture.
    const noise = await sharp({
      create: {
        width: w,
        height: h,
        channels: 3,
        background: '#808080',
        noise: { type: 'gaussian', mean: 128, sigma: 20 },
      },
    })
      .png()
      .toBuffer();
    await sharp(path.join(root, 'node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'))
      .removeAlpha()
      .resize(w, h, { fit: 'fill' })
      .composite([{ input: noise, blend: 'soft-light' }])
      .png()
      .toFile(input);
    const out = execFileSync(
      process.execPath,
      [
        fileURLToPath(import.meta.url),
        '--child',
        `--input=${input}`,
        `--cache=${cache}`,
        `--model=${model}`,
        ...(tile ? [`--tile=${tile}`] : []),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!);
    const s = r.ms / 1000;
    rows.push({ mp: (r.info.output.width * r.info.output.height) / 1e6, s, peak: r.peak });
    console.log(
      `${String(mp).padStart(9)}  ${`${w}x${h}`.padEnd(10)}  ${`${r.info.output.width}x${r.info.output.height}`.padEnd(12)}  ${s.toFixed(1).padStart(6)}  ${((w * h) / 1000 / s).toFixed(0).padStart(8)}  ${(r.peak / 2 ** 20).toFixed(0).padStart(11)}  ${(r.rssBefore / 2 ** 20).toFixed(0).padStart(13)}  ${[r.info.timings.decodeMs, r.info.timings.inferMs, r.info.timings.encodeMs].map((v: number) => (v / 1000).toFixed(1)).join(' / ')}`,
    );
  }
  const base = rows[0]!;
  console.log('\ngrowth relative to the smallest run:');
  for (const r of rows) {
    console.log(
      `  ${r.mp.toFixed(0)} MP: pixels x${(r.mp / base.mp).toFixed(1)}, time x${(r.s / base.s).toFixed(2)}, peak RSS x${(r.peak / base.peak).toFixed(2)}`,
    );
  }
  const at24 = rows.find((r) => Math.abs(r.mp - 24) < 1);
  if (at24) {
    const ok = at24.peak < 1.5 * 2 ** 30;
    console.log(
      `\n[${ok ? 'PASS' : 'FAIL'}] 24 MP output with peak RSS < 1.5 GB: ${(at24.peak / 2 ** 30).toFixed(2)} GB`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * bench:e2e — real photos through the whole pipeline as a user runs it (file → decode →
 * network → PNG bytes), against the same network's raw session rate measured in the same
 * process, and against PyTorch running the same weights on the same photo (issue 12).
 *
 * Each model × precision × photo runs in a fresh child process (so its peak RSS is its own): a warm-up on a
 * 64 px crop opens the sessions, the raw session's best tile is picked from 128/192/256, then
 * `--rounds` rounds each time one end-to-end run and raw runs over as many input pixels,
 * alternating so a busy machine slows both alike (raw on a session of its own, so that the
 * pipeline's sessions stay as a server worker's would between rounds; the first round, cold as a
 * CLI run is, is also printed alone); medians and the median of the per-round
 * ratios are printed; peak RSS is the first e2e round's, before any raw tile ran. PyTorch (/usr/bin/python3, bench/torch_sr.py) runs the whole image at
 * once (Real-ESRGAN's default) and is timed on the forward pass alone; it has x4plus, x4fast and
 * rrdn-thick (TORCH_ARCH), loads the weights from our fp32 ONNX file, and is checked against
 * onnxruntime on a crop of the photo before any of its figures is printed. A memory-scaling table
 * runs x4fast on the first photo enlarged to `--scaling` input megapixels under `--scaling-budget`,
 * each row checked against the budget plus a constant whose derivation it prints, and PyTorch on
 * the same pixels whole beside it (peak RSS and rate), unless its estimated need exceeds MemAvailable.
 *
 * Every network runs in each of `--precisions` (default fp32,int8); an int8 file is quantized
 * (or found in the cache) before anything is timed, and that time is printed on its own. int8
 * rows also give their rate against the same model's fp32 row and against PyTorch fp32.
 *
 *   npm run bench:e2e [-- --models=a,b --photos=rocket.jpg --rounds=3 --torch-rounds=1
 *                         --precisions=fp32,int8
 *                         --scaling=1,4,16 --budget=1G --python=/usr/bin/python3
 *                         --tiling=exact|context (default exact, as PIXELIFT_TILING)]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { workerEnv } from '../src/config.js';
import { decode } from '../src/engine/decode.js';
import { defaultMemoryBudget, parseByteSize } from '../src/engine/memory.js';
import { EXACT_BORDER, upscaleImage } from '../src/engine/pipeline.js';
import { crop } from '../src/engine/tiles.js';
import { isClassical } from '../src/models/catalog.js';
import { hasInt8, type RunPrecision } from '../src/models/precision.js';
import type { ModelStore } from '../src/models/store.js';
import { median } from './lib/measure.js';
import {
  BENCH_LIMITS,
  PACKAGE_ROOT,
  PHOTOS_DIR,
  PROBE_OPTIONS,
  probeStore,
  procStatus,
  resetPeak,
} from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const TORCH_ARCH: Record<string, 'rrdbnet' | 'srvgg' | 'rrdn'> = {
  'realesrgan-x4plus': 'rrdbnet',
  'realesrgan-x4fast': 'srvgg',
  'rrdn-thick': 'rrdn',
};
/**
 * The photos a run without --photos takes: the two small ones. retina.jpg (2 MP) is there for
 * --photos=retina.jpg: every model × precision on it takes most of an hour on 2 cores, and
 * PyTorch's whole-image x4plus would need ~27 GB (3.8 GB at 0.27 MP).
 */
const DEFAULT_PHOTOS = ['rocket.jpg', 'coffee.png'];
/** Side of the photo crop on which PyTorch's output is checked against onnxruntime's, input px. */
const TORCH_CHECK_SIDE = 96;
/** Largest |PyTorch − onnxruntime| allowed on that crop, in the network's 0..1 output units. */
const TORCH_CHECK_TOLERANCE = 1e-3;
/** Models whose PyTorch network was checked against onnxruntime, with the largest difference. */
const torchChecked = new Map<string, number>();

/**
 * Bytes per input pixel PyTorch's whole-image x4fast needs at least, for the scaling rows before one
 * was measured: a 64-channel fp32 conv input and its output are alive together (2 × 64 × 4 B).
 */
const TORCH_SRVGG_MIN_BYTES_PER_PX = 2 * 64 * 4;
/** Slack on top of the image buffers in the scaling rows' constant (see the printed derivation). */
const SCALING_SLACK = 64 * 2 ** 20;

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    models: { type: 'string' },
    photos: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    'torch-rounds': { type: 'string', default: '1' },
    scaling: { type: 'string', default: '1,4,16' },
    budget: { type: 'string' },
    'scaling-budget': { type: 'string', default: '768M' },
    'torch-crop': { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    cache: PROBE_OPTIONS.cache,
    work: { type: 'string' },
    tiling: { type: 'string', default: 'exact' },
    precisions: { type: 'string', default: 'fp32,int8' },
  },
});
const precisions = args.precisions!.split(',').filter(Boolean) as RunPrecision[];
for (const p of precisions)
  if (p !== 'fp32' && p !== 'int8') throw new RangeError(`--precisions: fp32 and/or int8, got ${p}`);

const threads = Math.max(1, os.availableParallelism());
if (args.tiling !== 'exact' && args.tiling !== 'context')
  throw new RangeError(`--tiling: exact or context, got ${args.tiling}`);
const tiling = args.tiling as 'exact' | 'context';
const budget = args.budget ? parseByteSize(args.budget) : defaultMemoryBudget();
if (budget === undefined) throw new RangeError(`--budget: expected a size such as 1G, got ${args.budget}`);

function newStore(): ModelStore {
  return probeStore(args.cache, threads);
}

interface CaseResult {
  readonly model: string;
  readonly precision: RunPrecision;
  readonly photo: string;
  readonly inputPx: number;
  readonly e2eMs: number[];
  readonly rawKpxs: number[];
  readonly bestTile: number;
  readonly peak: number;
  /** RSS before the first measured round: node, onnxruntime, sharp, the opened sessions. */
  readonly start: number;
  readonly tiling: string;
  readonly timings: { decodeMs: number; inferMs: number; encodeMs: number };
}

if (args.child) {
  const job = JSON.parse(args.child) as {
    kind: 'case' | 'scale';
    model: string;
    precision?: RunPrecision;
    photo: string;
    out?: string;
    budget?: number;
  };
  if (job.kind === 'case')
    console.log(JSON.stringify(await runCase(job.model, job.photo, job.out, job.precision ?? 'fp32')));
  else console.log(JSON.stringify(await runScale(job.model, job.photo, job.budget!)));
  process.exit(0);
}
await parent();

/** One model on one photo: warm-up, best raw tile, then alternating e2e / raw rounds. */
async function runCase(
  model: string,
  photo: string,
  outFile: string | undefined,
  precision: RunPrecision,
): Promise<CaseResult> {
  const store = newStore();
  const opts = {
    model,
    precision,
    scale: 4,
    format: 'png' as const,
    memoryBudget: budget,
    tiling,
    limits: BENCH_LIMITS,
  };
  const meta = await sharp(photo).metadata();
  const [W, H] = [meta.width!, meta.height!];
  const crop64 = await sharp(photo).extract({ left: 0, top: 0, width: 64, height: 64 }).png().toBuffer();
  await upscaleImage(store, crop64, opts);
  // Peak RSS of the pipeline alone: the first round runs before the raw session's tiles
  // (whose arena would stay in the process), with the kernel's high-water mark reset.
  const start = vmRss();
  resetPeak();
  const t0 = performance.now();
  let last = await upscaleImage(store, photo, opts);
  const firstMs = performance.now() - t0;
  const peak = vmHwm();
  // The raw rate from a store of its own: its tiles would otherwise run on the session the
  // pipeline's one-window runs use and reshape that session's arena between e2e rounds.
  const rawStore = newStore();
  const runner = await rawStore.open(model, 4, precision);
  const pixels = await photoTiles(photo);
  const rawRate = async (tile: number, px: number): Promise<number> => {
    let done = 0;
    const t = performance.now();
    for (let i = 0; done < px; i++) {
      await runner.run(pixels(tile, i));
      done += tile * tile;
    }
    return done / (performance.now() - t);
  };
  let bestTile = 128;
  let best = 0;
  for (const tile of [128, 192, 256]) {
    await runner.run(pixels(tile, 0)); // first run of a shape allocates and pre-packs
    const rate = await rawRate(tile, Math.min(W * H, 3 * tile * tile) / 2);
    if (rate > best) [best, bestTile] = [rate, tile];
  }
  const e2eMs = [firstMs];
  const rawKpxs = [await rawRate(bestTile, W * H)];
  for (let r = 1; r < Number(args.rounds); r++) {
    const t = performance.now();
    last = await upscaleImage(store, photo, opts);
    e2eMs.push(performance.now() - t);
    rawKpxs.push(await rawRate(bestTile, W * H));
  }
  if (outFile) fs.writeFileSync(outFile, last.data);
  await store.close();
  await rawStore.close();
  if (last.info.precision !== precision)
    throw new Error(`${model} ran in ${last.info.precision}, not ${precision}`);
  return {
    model,
    precision,
    photo: path.basename(photo),
    inputPx: W * H,
    e2eMs,
    rawKpxs,
    bestTile,
    peak,
    start,
    tiling: last.info.tiling,
    timings: last.info.timings,
  };
}

/** MemAvailable from /proc/meminfo, bytes: what a new process can take without swapping. */
function memAvailable(): number {
  return Number(/MemAvailable:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
}

// Declarations, not consts: a child runs its case above this point.
function vmRss(): number {
  return procStatus('VmRSS');
}

/** The process's peak RSS since the last reset (VmHWM), bytes. */
function vmHwm(): number {
  return procStatus('VmHWM');
}

/** Tiles cut from the photo (reflected past its edge), RGB CHW 0..1, cycling over positions. */
async function photoTiles(photo: string) {
  const d = await decode(photo, BENCH_LIMITS);
  const info = { width: d.width, height: d.height };
  const image = { data: d.rgb, width: d.width, height: d.height };
  return (tile: number, i: number) => {
    const x = (i * 97) % Math.max(1, info.width - tile);
    const y = (i * 61) % Math.max(1, info.height - tile);
    return { data: crop(image, x, y, tile, tile), width: tile, height: tile };
  };
}

/** Memory scaling: the whole pipeline on one enlarged photo; prints peak RSS. */
async function runScale(model: string, photo: string, memoryBudget: number) {
  const store = newStore();
  await store.prepare(model);
  const rss0 = vmRss();
  const t = performance.now();
  const r = await upscaleImage(store, photo, { model, scale: 4, memoryBudget, tiling, limits: BENCH_LIMITS });
  const ms = performance.now() - t;
  const peak = vmHwm(); // since the process started: prepare's golden check is far below the run
  await store.close();
  return { ms, peak, rss0, info: r.info };
}

/** Bytes of the image buffers a run holds outside the memory budget, for a w×h input. */
function imageAllowance(w: number, h: number, outputPx: number, pngBytes: number) {
  const padded = (w + 2 * EXACT_BORDER) * (h + 2 * EXACT_BORDER);
  return { input: 12 * (w * h + padded), output: 6 * outputPx, encoded: 2 * pngBytes };
}

function child<T>(job: object): T {
  const out = execFileSync(
    process.execPath,
    [fileURLToPath(import.meta.url), ...passThrough(), `--child=${JSON.stringify(job)}`],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 26,
      // As the worker pool starts its children (huge pages for malloc), since that is what a user runs.
      env: workerEnv(),
    },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

function passThrough(): string[] {
  return ['rounds', 'budget', 'cache', 'tiling']
    .filter((k) => args[k as keyof typeof args] !== undefined)
    .map((k) => `--${k}=${args[k as keyof typeof args]}`);
}

/**
 * Conv weights/biases (with the node's name: the Keras layer name for TF.js models) and PReLU
 * slopes of the converted fp32 graph, in graph order, for PyTorch.
 */
function exportWeights(onnxPath: string, base: string): void {
  const m = onnxProto.onnx.ModelProto.decode(fs.readFileSync(onnxPath));
  const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, t]));
  const chunks: Buffer[] = [];
  let offset = 0;
  const put = (name: string) => {
    const t = inits.get(name)!;
    const bytes = Buffer.from(t.rawData!);
    chunks.push(bytes);
    const entry = { offset, count: bytes.length / 4, dims: t.dims!.map(Number) };
    offset += bytes.length / 4;
    return entry;
  };
  const convs = [];
  const prelus = [];
  for (const n of m.graph!.node!) {
    if (n.opType === 'Conv')
      convs.push({ name: n.name!, weight: put(n.input![1]!), bias: put(n.input![2]!) });
    if (n.opType === 'PRelu') prelus.push(put(n.input![1]!));
  }
  fs.writeFileSync(`${base}.bin`, Buffer.concat(chunks));
  fs.writeFileSync(`${base}.json`, JSON.stringify({ convs, prelus }));
}

interface TorchResult {
  ms: number;
  /** Input pixels PyTorch ran on. */
  px?: number;
  peak: number;
  /** RSS before the forward pass (interpreter, torch, weights, input). */
  start?: number;
  torch: string;
  maxDiff255?: number;
}

function torchAvailable(): string | undefined {
  const r = spawnSync(args.python!, ['-c', 'import torch, numpy; print(torch.__version__)'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** One run of bench/torch_sr.py; its JSON line. */
function torchSr(opts: {
  model: string;
  weights: string;
  input: string;
  width: number;
  height: number;
  rounds: number;
  output?: string;
}): TorchResult {
  const out = execFileSync(
    args.python!,
    [
      path.join(PACKAGE_ROOT, 'bench/torch_sr.py'),
      `--arch=${TORCH_ARCH[opts.model]}`,
      `--weights=${opts.weights}`,
      `--input=${opts.input}`,
      `--width=${opts.width}`,
      `--height=${opts.height}`,
      `--threads=${threads}`,
      `--rounds=${opts.rounds}`,
      ...(opts.output ? [`--output=${opts.output}`] : []),
    ],
    { encoding: 'utf8', maxBuffer: 1 << 24 },
  );
  return JSON.parse(out.trim().split('\n').pop()!) as TorchResult;
}

/** Exports the fp32 graph's weights for PyTorch (once per work folder); the manifest's path. */
async function torchWeights(model: string, work: string): Promise<string> {
  const base = path.join(work, model);
  if (!fs.existsSync(`${base}.json`)) {
    const store = newStore();
    const prep = await store.prepare(model);
    await store.close();
    exportWeights(prep.onnxPath, base);
  }
  return `${base}.json`;
}

/**
 * PyTorch's network against onnxruntime's on the same weights: both run a centre crop of the
 * photo whole (both zero-pad at its edge), raw outputs compared value by value. Throws when they
 * differ by more than TORCH_CHECK_TOLERANCE, so no PyTorch figure is printed for a wrong network.
 */
async function checkTorch(model: string, photo: string, work: string): Promise<number> {
  const done = torchChecked.get(model);
  if (done !== undefined) return done;
  const weights = await torchWeights(model, work);
  const d = await decode(photo, BENCH_LIMITS);
  const side = Math.min(TORCH_CHECK_SIDE, d.width, d.height);
  const [cx, cy] = [(d.width - side) >> 1, (d.height - side) >> 1];
  const tile = {
    data: crop({ data: d.rgb, width: d.width, height: d.height }, cx, cy, side, side),
    width: side,
    height: side,
  };
  const store = newStore();
  const runner = await store.open(model, 4, 'fp32');
  const ort = (await runner.run(tile)).data;
  await store.close();
  const input = path.join(work, 'check.f32');
  const output = path.join(work, 'check-out.f32');
  fs.writeFileSync(input, tile.data);
  torchSr({ model, weights, input, width: side, height: side, rounds: 1, output });
  const y = new Float32Array(fs.readFileSync(output).buffer.slice(0));
  if (y.length !== ort.length)
    throw new Error(`${model}: PyTorch gave ${y.length} values, onnxruntime ${ort.length}`);
  let worst = 0;
  for (let i = 0; i < y.length; i++) worst = Math.max(worst, Math.abs(y[i]! - ort[i]!));
  if (!(worst <= TORCH_CHECK_TOLERANCE)) {
    throw new Error(
      `${model}: PyTorch's ${TORCH_ARCH[model]} differs from onnxruntime by ${worst} (> ${TORCH_CHECK_TOLERANCE}) on a ${side}x${side} crop of ${path.basename(photo)}: its architecture or weight loading is wrong`,
    );
  }
  torchChecked.set(model, worst);
  console.log(
    `${model}: PyTorch ${TORCH_ARCH[model]} vs onnxruntime on a ${side}x${side} crop of ${path.basename(photo)}: max |diff| ${worst.toExponential(2)} (limit ${TORCH_CHECK_TOLERANCE})`,
  );
  return worst;
}

async function runTorch(
  model: string,
  photo: string,
  work: string,
  pixeliftPng: string,
): Promise<TorchResult> {
  const weights = await torchWeights(model, work);
  await checkTorch(model, photo, work);
  // The pipeline's own decoder, so both see the same pixels (it keeps the sRGB encoding and
  // does not convert through an embedded profile).
  const d = await decode(photo, BENCH_LIMITS);
  // --torch-crop=WxH: PyTorch runs on a centre crop (its x4plus takes minutes per photo on
  // 2 cores); rates are compared per input pixel.
  const [cw, ch] = (args['torch-crop'] ?? `${d.width}x${d.height}`).split('x').map(Number) as [
    number,
    number,
  ];
  const info = { width: Math.min(cw, d.width), height: Math.min(ch, d.height) };
  const [cx, cy] = [(d.width - info.width) >> 1, (d.height - info.height) >> 1];
  const chw = crop({ data: d.rgb, width: d.width, height: d.height }, cx, cy, info.width, info.height);
  const input = path.join(work, 'input.f32');
  const output = path.join(work, 'output.f32');
  fs.writeFileSync(input, chw);
  const result = torchSr({
    model,
    weights,
    input,
    width: info.width,
    height: info.height,
    rounds: Number(args['torch-rounds']),
    output,
  });
  // The same weights must give the same picture: compare away from the border (Pixelift reflects
  // 16 px around the image, PyTorch zero-pads at it as Real-ESRGAN's whole-image mode does).
  const y = new Float32Array(fs.readFileSync(output).buffer.slice(0));
  const png = await decode(pixeliftPng, BENCH_LIMITS); // as stored, not through its ICC profile
  const [OW, OH] = [info.width * 4, info.height * 4];
  const [PW, PH] = [d.width * 4, d.height * 4];
  const margin = 4 * 48;
  let worst = 0;
  for (let yy = margin; yy < OH - margin; yy++) {
    for (let xx = margin; xx < OW - margin; xx++) {
      for (let c = 0; c < 3; c++) {
        const v = Math.round(Math.min(1, Math.max(0, y[c * OW * OH + yy * OW + xx]!)) * 255);
        const p = png.rgb[c * PW * PH + (yy + 4 * cy) * PW + xx + 4 * cx]!;
        worst = Math.max(worst, Math.abs(v - Math.round(p * 255)));
      }
    }
  }
  result.px = info.width * info.height;
  result.maxDiff255 = worst;
  return result;
}

async function parent(): Promise<void> {
  const store = newStore();
  const models =
    args.models
      ?.split(',')
      .filter(Boolean) ?? // --models= runs only the scaling rows
    store
      .list()
      .filter((m) => !isClassical(m) && m.origin === 'builtin')
      .map((m) => m.id);
  await store.close();
  const photos = (args.photos?.split(',') ?? DEFAULT_PHOTOS).map((f) => path.join(PHOTOS_DIR, f));
  const work = args.work ?? fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-e2e-'));
  const torch = torchAvailable();
  console.log(
    `bench:e2e — ${threads} cores, load average ${os.loadavg()[0]!.toFixed(1)}, memory budget ${(budget! / 2 ** 30).toFixed(2)} GiB, ${args.rounds} rounds, precisions ${precisions.join(', ')} (int8 quality: npm run bench:int8)`,
  );
  if (!torch) {
    console.log(
      `PyTorch column skipped: \`${args.python} -c 'import torch'\` failed. Install it with \`apt-get install python3-torch\` (Debian) or \`pip install torch numpy\`, or point --python at an interpreter that has it.`,
    );
  }
  const rows: (string | number)[][] = [];
  const memoryLines: string[] = [];
  for (const model of models) {
    // int8 files are made (or verified from the cache) here, before anything is timed.
    const wanted = precisions.filter((p) => p === 'fp32' || hasInt8(store.get(model)));
    if (wanted.includes('int8')) {
      const prepStore = newStore();
      const t = performance.now();
      const prep = await prepStore.prepare(model, 4, 'int8');
      await prepStore.close();
      console.log(
        `${model} x4 int8: ${prep.converted ? 'quantized' : 'cached, verified'} in ${fmt((performance.now() - t) / 1000)} s (not in the figures)`,
      );
    }
    for (const photo of photos) {
      const e2eByPrecision = new Map<RunPrecision, number>();
      let t: TorchResult | undefined;
      for (const precision of wanted) {
        const png = path.join(work, `${model}-${precision}-${path.basename(photo)}.png`);
        const r = child<CaseResult>({ kind: 'case', model, precision, photo, out: png });
        const e2eKpxs = r.e2eMs.map((ms) => r.inputPx / ms);
        const ratios = e2eKpxs.map((v, i) => v / r.rawKpxs[i]!);
        // PyTorch (fp32) runs once per model and photo; its picture is compared with the first row's.
        const compared = !t;
        if (!t && torch && TORCH_ARCH[model] && Number(args['torch-rounds']) > 0)
          t = await runTorch(model, photo, work, png);
        const e2eMed = median(r.e2eMs);
        const e2eRate = median(e2eKpxs);
        e2eByPrecision.set(precision, e2eRate);
        const fp32Rate = e2eByPrecision.get('fp32');
        rows.push([
          model,
          precision,
          path.basename(photo),
          r.tiling,
          fmt(e2eMed / 1000),
          fmt(r.e2eMs[0]! / 1000),
          fmt(e2eRate),
          fmt(median(r.rawKpxs)),
          r.bestTile,
          `${(median(ratios) * 100).toFixed(0)}%`,
          precision !== 'fp32' && fp32Rate ? `${fmt(e2eRate / fp32Rate)}×` : '–',
          fmt(r.peak / 2 ** 20, 4),
          `${r.timings.decodeMs}/${r.timings.inferMs}/${r.timings.encodeMs}`,
          t ? fmt(t.px! / t.ms) : '–',
          t ? `${fmt(e2eRate / (t.px! / t.ms))}×` : '–',
          t ? fmt(t.peak / 2 ** 20, 4) : '–',
          // With --torch-crop PyTorch ran fewer pixels: its peak is not for the same image.
          t ? `${fmt(r.peak / t.peak)}${t.px! < r.inputPx ? ' (crop)' : ''}` : '–',
          t && compared ? String(t.maxDiff255) : '–',
        ]);
        console.error(`  ${rows[rows.length - 1]!.join('  ')}`);
        if (t && compared) {
          const mb = (b: number) => `${fmt(b / 2 ** 20, 4)} MB`;
          memoryLines.push(
            `${model}, ${path.basename(photo)}: Pixelift peak ${mb(r.peak)} / PyTorch peak ${mb(t.peak)} = ${(r.peak / t.peak).toFixed(2)}× (target < 0.50×); ` +
              `before the run: Pixelift ${mb(r.start)} (node, onnxruntime, sharp, sessions), PyTorch ${t.start ? mb(t.start) : '–'} (python, torch, weights, input); ` +
              `during it: Pixelift +${mb(r.peak - r.start)}, PyTorch +${t.start ? mb(t.peak - t.start) : '–'}` +
              (t.px! < r.inputPx
                ? ` (PyTorch ran a ${t.px} px --torch-crop of the ${r.inputPx} px photo: its peak is not for the same pixels)`
                : ''),
          );
        }
      }
    }
  }
  // --models= runs only the scaling rows: no empty table.
  if (rows.length > 0) {
    console.log(
      `\n${formatTable(
        [
          'model',
          'precision',
          'photo',
          'tiling',
          'e2e s',
          'first s',
          'e2e kpx/s',
          'raw kpx/s',
          'raw tile',
          'e2e/raw',
          'e2e vs fp32',
          'peak MB',
          'dec/inf/enc ms',
          'torch kpx/s',
          'e2e/torch speed',
          'torch peak MB',
          'peak/torch',
          'torch diff /255',
        ],
        rows,
      )}`,
    );
    console.log(
      `${memoryLines.length > 0 ? `\nmemory against PyTorch (peak RSS of each process, same photo and weights):\n${memoryLines.join('\n')}\n` : ''}` +
        '\ne2e: file in, PNG bytes out (median of the rounds); first: the first round alone, cold as a CLI run is (its sessions fresh, their arenas not yet grown to the photo), where later rounds find the sessions warm as a server worker would; raw: the same whole-network session on tiles of the photo without context, at its best tile, alternated with the e2e rounds; e2e/raw: median of the per-round ratios; e2e vs fp32: int8 e2e rate over fp32 e2e rate (target ≥ 2×). torch: the same weights in PyTorch fp32, the whole image (or --torch-crop) at once, forward pass only (its decode/encode not counted); e2e/torch speed: each row against that one PyTorch fp32 run (int8 target ≥ 4×); torch diff: max |PyTorch − Pixelift| in 8-bit levels, 48 input px away from the border, for the first row of each model. ' +
        `Before any PyTorch figure, its network is checked against onnxruntime (the same fp32 graph Pixelift runs) on a ${TORCH_CHECK_SIDE} px crop of the photo: raw outputs within ${TORCH_CHECK_TOLERANCE}, or the bench stops.`,
    );
  }

  const sizes = args.scaling!.split(',').filter(Boolean).map(Number);
  const scalingBudget = parseByteSize(args['scaling-budget']!)!;
  if (sizes.length > 0) {
    const scaleRows: (string | number)[][] = [];
    const torchRows: (string | number)[][] = [];
    const torchNotes: string[] = [];
    const MB = (b: number) => fmt(b / 2 ** 20, 4);
    const scaleModel = 'realesrgan-x4fast';
    const withTorch = torch !== undefined && Number(args['torch-rounds']) > 0;
    if (withTorch) await checkTorch(scaleModel, photos[0]!, work);
    // PyTorch's growth per input pixel and its RSS before the forward pass, from the last row it ran.
    let torchGrowth: { perPx: number; start: number } | undefined;
    for (const mp of sizes) {
      const meta = await sharp(photos[0]!).metadata();
      const k = Math.sqrt((mp * 1e6) / (meta.width! * meta.height!));
      const [w, h] = [Math.round(meta.width! * k), Math.round(meta.height! * k)];
      const input = path.join(work, `scale-${mp}.png`);
      await sharp(photos[0]!).resize(w, h).png({ compressionLevel: 1 }).toFile(input);
      const r = child<{
        ms: number;
        peak: number;
        rss0: number;
        info: {
          output: { width: number; height: number; bytes: number };
          tiling: string;
          precision: string;
        };
      }>({ kind: 'scale', model: scaleModel, photo: input, budget: scalingBudget });
      const c = imageAllowance(w, h, r.info.output.width * r.info.output.height, r.info.output.bytes);
      const constant = r.rss0 + c.input + c.output + c.encoded + SCALING_SLACK;
      const over = r.peak - scalingBudget - constant;
      scaleRows.push([
        mp,
        `${w}x${h}`,
        `${r.info.output.width}x${r.info.output.height}`,
        fmt(r.ms / 1000),
        MB(r.peak),
        MB(scalingBudget),
        `${MB(r.rss0)} + ${MB(c.input)} + ${MB(c.output)} + ${MB(c.encoded)} + ${MB(SCALING_SLACK)} = ${MB(constant)}`,
        MB(scalingBudget + constant),
        over <= 0 ? `yes, ${MB(-over)} MB under` : `NO, ${MB(over)} MB over`,
      ]);
      console.error(`  scaling ${scaleRows[scaleRows.length - 1]!.join('  ')}`);
      if (!withTorch) continue;
      // PyTorch runs the same decoded pixels whole; first make sure it fits in what is free now.
      const px = w * h;
      const growth = torchGrowth ?? { perPx: TORCH_SRVGG_MIN_BYTES_PER_PX, start: 0 };
      const need = growth.start + growth.perPx * px;
      const free = memAvailable();
      const pixeliftCells = [mp, r.info.precision, fmt(r.ms / 1000), fmt(px / r.ms), MB(r.peak)];
      if (need > free) {
        torchRows.push([...pixeliftCells, 'skipped', '–', '–', '–']);
        torchNotes.push(
          `${mp} MP: PyTorch skipped, it would need about ${MB(need)} MB (${MB(growth.start)} MB before the forward pass + ${fmt(growth.perPx)} B × ${px} px, ${torchGrowth ? 'growth per pixel measured on the previous row' : `at least ${TORCH_SRVGG_MIN_BYTES_PER_PX} B/px: two 64-channel fp32 maps`}) and MemAvailable is ${MB(free)} MB`,
        );
        console.error(`  scaling torch ${torchNotes[torchNotes.length - 1]}`);
        continue;
      }
      const decoded = await decode(input, BENCH_LIMITS);
      const f32 = path.join(work, `scale-${mp}.f32`);
      fs.writeFileSync(f32, decoded.rgb);
      const t = torchSr({
        model: scaleModel,
        weights: await torchWeights(scaleModel, work),
        input: f32,
        width: w,
        height: h,
        rounds: Number(args['torch-rounds']),
      });
      fs.rmSync(f32);
      torchGrowth = { perPx: (t.peak - t.start!) / px, start: t.start! };
      torchRows.push([
        ...pixeliftCells,
        fmt(t.ms / 1000),
        fmt(px / t.ms),
        MB(t.peak),
        `${(r.peak / t.peak).toFixed(2)}×`,
      ]);
      console.error(`  scaling torch ${torchRows[torchRows.length - 1]!.join('  ')}`);
    }
    console.log(
      `\nmemory scaling, realesrgan-x4fast, PNG out, --scaling-budget=${args['scaling-budget']}:\n${formatTable(
        [
          'input MP',
          'input',
          'output',
          's',
          'peak MB',
          'budget MB',
          'constant MB = start + input + output + PNG + slack',
          'budget + constant MB',
          'within',
        ],
        scaleRows,
      )}`,
    );
    console.log(
      `\nThe constant: what the budget (the segment windows' arenas and the 1× feature maps between segments) does not cover. ` +
        `start = RSS of the process before the run (node, onnxruntime, sharp, the verified model), measured; ` +
        `input = the decoded image as float RGB and its ${EXACT_BORDER} px reflected copy, 12 B × (input px + padded px); ` +
        `output = the 16-bit RGB image the tail writes into, 6 B × output px; ` +
        `PNG = 2 × the encoded bytes (libvips' growing output buffer and the Node Buffer it is copied into); ` +
        `slack = ${MB(SCALING_SLACK)} MB (the segment sessions' weights, libvips strips, V8 and glibc free lists).`,
    );
    if (torchRows.length > 0) {
      console.log(
        `\nmemory scaling against PyTorch, ${scaleModel}, same input pixels (target: Pixelift peak < 0.50× PyTorch's):\n${formatTable(
          [
            'input MP',
            'precision',
            'Pixelift e2e s',
            'Pixelift kpx/s',
            'Pixelift peak MB',
            'torch forward s',
            'torch kpx/s',
            'torch peak MB',
            'peak/torch',
          ],
          torchRows,
        )}`,
      );
      console.log(
        `${torchNotes.map((n) => `${n}\n`).join('')}Pixelift: the whole pipeline (PNG decode, network in budgeted windows, PNG encode) under --scaling-budget; ` +
          `PyTorch: bench/torch_sr.py, the whole image in one forward pass (Real-ESRGAN's default, no tiling), fp32, ${threads} threads, its decode and encode not counted. ` +
          "peak: each process's own peak RSS (Pixelift: VmHWM of its child; PyTorch: ru_maxrss of the python process).",
      );
    }
  }
  if (!args.work) fs.rmSync(work, { recursive: true, force: true });
}

/**
 * `npm run bench:int8`: what static int8 (src/models/quantize.ts) does to each network —
 * speed against fp32 on the same tile in one process, PSNR of the int8 output against the
 * fp32 output, and PSNR-Y against ground truth on photos downscaled ×4 with sharp, for fp32
 * and int8. The evaluation photos (bench/photos) are not the calibration photos
 * (assets/calibration). INT8_AUTO in src/models/quantize.ts is filled from this table.
 *
 * Flags: --models=a,b (default realesrgan-x4fast,rrdn-thick,realesrgan-x4plus),
 * --variants=id,id (default: the shipped settings only), --tile=96, --rounds=5, --json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp, { type Sharp } from 'sharp';
import { BUILTIN_MODELS, type ModelEntry } from '../src/models/catalog.js';
import {
  decodeModel,
  graphOf,
  opCounts,
  type QuantizableConv,
  quantizableConvs,
} from '../src/models/onnx/qdq.js';
import {
  DEFAULT_OPTIONS,
  edgeConvs,
  INT8_AUTO,
  MODEL_OPTIONS,
  type QuantizeOptions,
  quantizeWith,
  tailConvs,
} from '../src/models/quantize.js';
import { fromModelRange, toModelRange } from '../src/models/runner.js';
import { REPO_ROOT, selectModels } from './lib/bench-models.js';
import { loadAverage, median } from './lib/measure.js';
import { defaultSessionOptions } from './lib/ort-session.js';
import { compare } from './lib/psnr.js';
import { fmt, formatTable } from './lib/table.js';

const none = () => new Set<string>();
/**
 * `edgeConvs`, the Conv reading the image, and the Convs whose output reaches the first
 * upsampling through element-wise ops only (x4plus: conv_first and conv_body, the two ends of
 * the global residual that goes straight to the upsampler).
 */
function endConvs(convs: readonly QuantizableConv[], fp32: Uint8Array): Set<string> {
  const keep = edgeConvs(convs, fp32);
  const g = graphOf(decodeModel(fp32));
  const producer = new Map(g.node.map((n) => [n.output?.[0] ?? '', n]));
  const input = g.input?.[0]?.name;
  for (const c of convs) if (c.input === input) keep.add(c.name);
  const up = g.node.find((n) => n.opType === 'Resize' || n.opType === 'DepthToSpace');
  const stack = [up?.input?.[0] ?? ''];
  while (stack.length > 0) {
    const n = producer.get(stack.pop()!);
    if (n?.opType === 'Conv') keep.add(n.name ?? '');
    else if (n && ['Add', 'Sum', 'Mul', 'Identity'].includes(n.opType ?? '')) stack.push(...(n.input ?? []));
  }
  return new Set(convs.filter((c) => keep.has(c.name)).map((c) => c.name));
}

const VARIANTS: Readonly<Record<string, QuantizeOptions>> = {
  'mse-w7-ends': { method: 'mse', weightBits: 7, keepFloat: endConvs, equalize: 0 },
  shipped: DEFAULT_OPTIONS,
  'minmax-w8-all': { method: 'minmax', weightBits: 8, keepFloat: none, equalize: 0 },
  'minmax-w7-all': { method: 'minmax', weightBits: 7, keepFloat: none, equalize: 0 },
  'mse-w7-all': { method: 'mse', weightBits: 7, keepFloat: none, equalize: 0 },
  'minmax-w7-tail': { method: 'minmax', weightBits: 7, keepFloat: tailConvs, equalize: 0 },
  'mse-w8-all': { method: 'mse', weightBits: 8, keepFloat: none, equalize: 0 },
  'mse-w8-tail': { method: 'mse', weightBits: 8, keepFloat: tailConvs, equalize: 0 },
  'mse-w7-tail': { method: 'mse', weightBits: 7, keepFloat: tailConvs, equalize: 0 },
  'mse-w7-edge': { method: 'mse', weightBits: 7, keepFloat: edgeConvs, equalize: 0 },
  'mse-w8-edge': { method: 'mse', weightBits: 8, keepFloat: edgeConvs, equalize: 0 },
  'minmax-w7-edge': { method: 'minmax', weightBits: 7, keepFloat: edgeConvs, equalize: 0 },
  'minmax-w8-tail': { method: 'minmax', weightBits: 8, keepFloat: tailConvs, equalize: 0 },
  'hyb-w8-tail': { method: 'minmax-outputs', weightBits: 8, keepFloat: tailConvs, equalize: 0 },
  'hyb-w8-ends': { method: 'minmax-outputs', weightBits: 8, keepFloat: endConvs, equalize: 0 },
  'mse-w8-ends': { method: 'mse', weightBits: 8, keepFloat: endConvs, equalize: 0 },
  'minmax-w8-eqc': {
    method: 'minmax',
    weightBits: 8,
    keepFloat: tailConvs,
    equalize: 0,
    equalizeConcats: true,
  },
  'hyb-w8-eqc': {
    method: 'minmax-outputs',
    weightBits: 8,
    keepFloat: tailConvs,
    equalize: 0,
    equalizeConcats: true,
  },
  'mse-w8-eqc': { method: 'mse', weightBits: 8, keepFloat: tailConvs, equalize: 0, equalizeConcats: true },
  'mse-w8-eq.5': { method: 'mse', weightBits: 8, keepFloat: tailConvs, equalize: 0.5 },
  'mse-w8-eq1': { method: 'mse', weightBits: 8, keepFloat: tailConvs, equalize: 1 },
  'mse-w7-eq.5': { method: 'mse', weightBits: 7, keepFloat: tailConvs, equalize: 0.5 },
};

const EVAL_PHOTOS = ['rocket.jpg', 'coffee.png'];
const SCALE = 4;

interface Image {
  /** RGB 0..1 CHW. */
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

async function readRgb(input: Sharp): Promise<Image> {
  const { data, info } = await input.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const { width, height } = info;
  const chw = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < width * height; i++) chw[c * width * height + i] = data[i * 3 + c]! / 255;
  return { data: chw, width, height };
}

/** Ground truth (the photo cropped to a multiple of 4) and its ×4 downscale (sharp, lanczos3). */
async function evalPair(file: string): Promise<{ truth: Image; low: Image }> {
  const buf = fs.readFileSync(path.join(REPO_ROOT, 'bench/photos', file));
  const meta = await sharp(buf).metadata();
  const w = Math.floor(meta.width! / SCALE) * SCALE;
  const h = Math.floor(meta.height! / SCALE) * SCALE;
  const cropped = await sharp(buf).extract({ left: 0, top: 0, width: w, height: h }).png().toBuffer();
  return {
    truth: await readRgb(sharp(cropped)),
    low: await readRgb(sharp(cropped).resize(w / SCALE, h / SCALE, { kernel: 'lanczos3' })),
  };
}

/** Output rounded to 8 bits as the app saves it. */
const quantize8 = (v: Float32Array) =>
  Float32Array.from(v, (x) => Math.round(Math.min(1, Math.max(0, x)) * 255) / 255);

/** PSNR of BT.601 luma (16..235, as SR papers report it), `SCALE` px border shaved. */
function psnrY(a: Image, b: Image): number {
  const { width: w, height: h } = a;
  const p = w * h;
  const y = (d: Float32Array, i: number) =>
    16 + 65.481 * d[i]! + 128.553 * d[p + i]! + 24.966 * d[2 * p + i]!;
  let se = 0;
  let n = 0;
  for (let j = SCALE; j < h - SCALE; j++)
    for (let i = SCALE; i < w - SCALE; i++) {
      const d = y(a.data, j * w + i) - y(b.data, j * w + i);
      se += d * d;
      n++;
    }
  return 10 * Math.log10((255 * 255) / (se / n));
}

async function upscale(session: ort.InferenceSession, entry: ModelEntry, img: Image): Promise<Image> {
  const [lo, hi] = entry.inputRange;
  const bgr = entry.channelOrder === 'bgr';
  const input = toModelRange(img.data, lo, hi, bgr);
  const result = await session.run({
    [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, img.height, img.width]),
  });
  const out = result[session.outputNames[0]!]!;
  return {
    data: quantize8(fromModelRange(out.data as Float32Array, lo, hi, bgr)),
    width: img.width * SCALE,
    height: img.height * SCALE,
  };
}

function crop(img: Image, side: number): Image {
  const data = new Float32Array(3 * side * side);
  for (let c = 0; c < 3; c++)
    for (let j = 0; j < side; j++)
      for (let i = 0; i < side; i++)
        data[(c * side + j) * side + i] = img.data[(c * img.height + j) * img.width + i]!;
  return { data, width: side, height: side };
}

interface Row {
  model: string;
  variant: string;
  quantizeMs: number;
  fp32Ms: number;
  int8Ms: number;
  speedup: number;
  psnrVsFp32: number;
  psnrYFp32: number;
  psnrYInt8: number;
  yLoss: number;
  int8Convs: number;
  floatConvs: string;
  fused: string;
  load: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'realesrgan-x4fast,rrdn-thick,realesrgan-x4plus' },
      variants: { type: 'string', default: 'shipped' },
      tile: { type: 'string', default: '96' },
      rounds: { type: 'string', default: '5' },
      json: { type: 'boolean', default: false },
    },
  });
  const variants = values.variants.split(',');
  for (const v of variants)
    if (!VARIANTS[v])
      throw new RangeError(
        `Expected --variants from ${Object.keys(VARIANTS).join(', ')} but received "${v}"`,
      );
  const tile = Number(values.tile);
  const rounds = Number(values.rounds);
  const pairs = await Promise.all(EVAL_PHOTOS.map(evalPair));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-int8-'));
  const rows: Row[] = [];
  const loadAtStart = loadAverage();
  try {
    for (const model of selectModels(values.models.split(','))) {
      const entry = BUILTIN_MODELS.find((m) => m.id === model.id)!;
      const fp32 = (await model.load()).onnx;
      const fp32Session = await ort.InferenceSession.create(fp32, {
        ...defaultSessionOptions(),
        logSeverityLevel: 3,
      });
      const fp32Out = [];
      for (const p of pairs) fp32Out.push(await upscale(fp32Session, entry, p.low));
      const convs = quantizableConvs(fp32);
      for (const variant of variants) {
        // `shipped`: what quantizeInt8 does for this model (DEFAULT_OPTIONS + MODEL_OPTIONS).
        const options =
          variant === 'shipped' ? { ...DEFAULT_OPTIONS, ...MODEL_OPTIONS.get(model.id) } : VARIANTS[variant]!;
        const t0 = performance.now();
        const int8 = await quantizeWith(fp32, entry, options);
        const quantizeMs = performance.now() - t0;
        const dump = path.join(tmp, `${model.id}-${variant}.onnx`);
        const session = await ort.InferenceSession.create(int8, {
          ...defaultSessionOptions(),
          optimizedModelFilePath: dump,
          logSeverityLevel: 3,
        });
        const counts = opCounts(fs.readFileSync(dump));
        let se = 0;
        let yF = 0;
        let yI = 0;
        for (const [k, p] of pairs.entries()) {
          const out = await upscale(session, entry, p.low);
          const d = compare(fp32Out[k]!.data, out.data);
          se += 10 ** (-d.psnr / 10);
          yF += psnrY(fp32Out[k]!, p.truth) / pairs.length;
          yI += psnrY(out, p.truth) / pairs.length;
        }
        const psnrVsFp32 = -10 * Math.log10(se / pairs.length);
        // Speed: the same tile, fp32 and int8 alternated so both see the same machine load.
        const t = crop(pairs[0]!.low, tile);
        const f: number[] = [];
        const q: number[] = [];
        await upscale(fp32Session, entry, t);
        await upscale(session, entry, t);
        for (let r = 0; r < rounds; r++) {
          let s = performance.now();
          await upscale(fp32Session, entry, t);
          f.push(performance.now() - s);
          s = performance.now();
          await upscale(session, entry, t);
          q.push(performance.now() - s);
        }
        await session.release();
        const keep = options.keepFloat(convs, fp32);
        const row: Row = {
          model: model.id,
          variant,
          quantizeMs,
          fp32Ms: median(f),
          int8Ms: median(q),
          speedup: median(f) / median(q),
          psnrVsFp32,
          psnrYFp32: yF,
          psnrYInt8: yI,
          yLoss: yF - yI,
          int8Convs: counts.get('com.microsoft.QLinearConv') ?? counts.get('QLinearConv') ?? 0,
          floatConvs: keep.size === 0 ? 'none' : [...keep].join(' '),
          fused: [...counts]
            .filter(([op]) => /Conv|Quantize|QLinear/.test(op))
            .map(([op, n]) => `${n} ${op}`)
            .join(', '),
          load: loadAverage(),
        };
        rows.push(row);
        process.stderr.write(
          `${model.id} ${variant}: ${row.speedup.toFixed(2)}× (${fmt(row.fp32Ms)} → ${fmt(row.int8Ms)} ms), ${row.psnrVsFp32.toFixed(2)} dB vs fp32, PSNR-Y ${yF.toFixed(3)} → ${yI.toFixed(3)} (loss ${row.yLoss.toFixed(3)}), quantize ${fmt(quantizeMs / 1000)} s, load ${row.load.toFixed(2)}; ${row.fused}\n`,
        );
      }
      await fp32Session.release();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const cpu = os.cpus()[0]?.model ?? '';
  process.stdout.write(
    `${[
      `Pixelift int8 (QDQ → QLinearConv) vs fp32 — ${os.availableParallelism()} cores, ${cpu}; speed on a ${tile}² tile, ${rounds} alternated rounds, medians`,
      `quality on ${EVAL_PHOTOS.join(', ')} downscaled ×${SCALE} (sharp lanczos3); calibration on assets/calibration (other photos)`,
      `bar for INT8_AUTO: ≥ 40 dB vs fp32 and ≤ 0.05 dB PSNR-Y loss; INT8_AUTO now: ${[...INT8_AUTO].map(([id, s]) => `${id} ×${s.join('/')}`).join(', ') || 'none'}`,
      '',
      formatTable(
        [
          'model',
          'variant',
          'int8/fp32 speed',
          'fp32 ms',
          'int8 ms',
          'dB vs fp32',
          'PSNR-Y fp32',
          'PSNR-Y int8',
          'Y loss dB',
          'QLinearConv',
          'quantize s',
          'meets bar',
        ],
        rows.map((r) => [
          r.model,
          r.variant,
          `${r.speedup.toFixed(2)}×`,
          fmt(r.fp32Ms),
          fmt(r.int8Ms),
          r.psnrVsFp32.toFixed(2),
          r.psnrYFp32.toFixed(3),
          r.psnrYInt8.toFixed(3),
          r.yLoss.toFixed(3),
          r.int8Convs,
          fmt(r.quantizeMs / 1000),
          r.psnrVsFp32 >= 40 && r.yLoss <= 0.05 ? 'yes' : 'no',
        ]),
      ),
      '',
      'Convs kept fp32:',
      ...rows.map((r) => `  ${r.model} ${r.variant}: ${r.floatConvs}`),
      '',
      `load average ${loadAtStart.toFixed(2)} at start, ${loadAverage().toFixed(2)} at end`,
    ].join('\n')}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

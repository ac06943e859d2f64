/**
 * Static int8 versions of the networks we convert to fp32 ONNX (issue 12).
 *
 * Calibration runs the fp32 network on the project's own photos (assets/calibration, see its
 * README; the photos that `npm run bench:int8` judges the result on are different ones), fed
 * as ModelRunner feeds them. Each activation a quantized Conv reads or writes gets a uint8
 * range; the graph input gets the model's whole input range, so an 8-bit image is quantized
 * exactly. Conv weights are symmetric per output channel. Which Convs stay fp32 and how ranges
 * are chosen was measured per model with `npm run bench:int8` (docs/int8.md).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { DEFAULTS } from '../config.js';
import { PixeliftError } from '../errors.js';
import type { ModelEntry } from './catalog.js';
import { INT8_WEIGHT_BITS, type WeightBits } from './int8-cpu.js';
import { concatJoins, equalizablePairs, equalize, equalizeJoins } from './onnx/equalize.js';
import {
  activationsOf,
  decodeModel,
  exposeTensors,
  graphOf,
  type QuantizableConv,
  quantizableConvs,
  type Range,
  staticQdq,
} from './onnx/qdq.js';
import { toModelRange } from './runner.js';

/**
 * Part of the cache key of int8 files: bump when the output of quantizeInt8 changes. 2: fewer
 * calibration sessions, each exposing more activations, which changes onnxruntime's fusions
 * around them and so rrdn-thick's ranges in the last bits (x4fast's bytes are unchanged).
 * 3: x4plus gets min/max ranges and its dense blocks' Concats equalized (MODEL_OPTIONS).
 */
export const QUANTIZER_VERSION = '3';

/**
 * The built-ins `auto` runs in int8, and at which native scales, on a CPU whose int8 files get
 * `weightBits` (int8-cpu.ts): those whose int8 meets the bar (≥ 40 dB vs fp32, ≤ 0.05 dB PSNR-Y
 * loss vs ground truth: `npm run bench:int8`) and runs ≥ 2× fp32 end to end (`npm run
 * bench:e2e`), each measured at that scale and with those bits (docs/int8.md).
 */
// rrdn-thick ×4, 7 bits: 47.86 dB vs fp32, 0.034 dB PSNR-Y loss (bench:int8 --models=rrdn-thick
// --tile=48 --rounds=3, QUANTIZER_VERSION 2, load 6–7); end to end on rocket.jpg (640×427, exact
// tiling) 28.0 kpx/s int8 vs 8.62 fp32 = 3.25×, raw session 62.7 vs 21.2 kpx/s (bench:e2e
// --rounds=1, load 2–3, 1 December 2026). 8 bits (VNNI): 47.98 dB, 0.028 dB (bench:int8
// --variants=mse-w8-tail, load 4–5, 2 December 2026). Its ×2/×3/×8 networks share the id but
// were not measured, so they stay fp32.
// realesrgan-x4plus ×4, 8 bits only (MODEL_OPTIONS): 40.35 dB vs fp32, 0.011 dB PSNR-Y loss,
// 2.83× on a 64² tile (bench:int8 --variants=minmax-w8-eqc --tile=64 --rounds=3, load 6);
// end to end on rocket.jpg (exact tiling) 12.4 kpx/s int8 vs 2.77 fp32 = 4.48×, raw session 18.9
// vs 8.25 kpx/s = 2.29× (bench:e2e --models=realesrgan-x4plus --rounds=1 --torch-rounds=0
// --scaling=, load 2.2–2.3, 2 December 2026). With 7 bits (AVX2 only) the same settings give 39.03 dB, 0.078 dB
// loss (scratch run with bench:int8's evaluation; 7-bit weights compute the same on both kernels):
// short of the bar, so there it stays fp32.
// realesrgan-x4fast misses the bar (33.6 dB with 7 bits, 37.0 with 8); rrdn-medium/slim keep
// 47.6/48.0 dB but gain ≤ 1.1× (their fp32 tail dominates).
export function int8AutoFor(weightBits: WeightBits): Int8Auto {
  const auto = new Map<string, readonly number[]>([['rrdn-thick', [4]]]);
  if (weightBits === 8) auto.set('realesrgan-x4plus', [4]);
  return auto;
}

export const INT8_AUTO: Int8Auto = int8AutoFor(INT8_WEIGHT_BITS);

/** Which built-ins `auto` runs in int8, and at which native scales. */
export type Int8Auto = ReadonlyMap<string, readonly number[]>;

/**
 * How an activation's uint8 range is chosen from what calibration saw: min/max, the least
 * squared error (`mseRange`), or min/max for what the Convs write and least squared error for
 * what they read from float ops (`minmax-outputs`: x4plus's best, 38.33 dB against 37.61 for
 * MSE, and x4fast's worst, 35.48 against 36.96; docs/int8.md).
 */
export type RangeMethod = 'minmax' | 'mse' | 'minmax-outputs';

export interface QuantizeOptions {
  readonly method: RangeMethod;
  /** 8, or 7 to keep AVX2's u8 × s8 pair sums from saturating (int8-cpu.ts). */
  readonly weightBits: number;
  /** Which Convs stay fp32. */
  readonly keepFloat: (convs: readonly QuantizableConv[], fp32: Uint8Array) => ReadonlySet<string>;
  /** Activation equalization strength (0: none): channel c is scaled by (max/max_c)^α (equalize.ts). */
  readonly equalize: number;
  /**
   * Scale the channels of a Conv → act that a Concat joins with other values (x4plus's dense
   * blocks: the trunk) down to those values' largest |value| (equalize.ts `concatJoins`).
   */
  readonly equalizeConcats?: boolean;
}

/** The Convs that run at more than 1× (after the first upsampling): the costly-to-get-wrong tail. */
export function tailConvs(convs: readonly QuantizableConv[], fp32: Uint8Array): Set<string> {
  const g = graphOf(decodeModel(fp32));
  const upsampled = new Set<string>();
  for (const n of g.node) {
    const up = n.opType === 'Resize' || n.opType === 'DepthToSpace';
    if (up || (n.input ?? []).some((i) => upsampled.has(i))) for (const o of n.output ?? []) upsampled.add(o);
  }
  return new Set(convs.filter((c) => upsampled.has(c.input)).map((c) => c.name));
}

/** `tailConvs` and the Convs that feed the first upsampling (x4fast's last Conv, RRDN's PreShuffle). */
export function edgeConvs(convs: readonly QuantizableConv[], fp32: Uint8Array): Set<string> {
  const keep = tailConvs(convs, fp32);
  const g = graphOf(decodeModel(fp32));
  const upsampling = new Set(
    g.node.filter((n) => n.opType === 'Resize' || n.opType === 'DepthToSpace').map((n) => n.input?.[0] ?? ''),
  );
  for (const c of convs) if (upsampling.has(c.output)) keep.add(c.name);
  return keep;
}

export const DEFAULT_OPTIONS: QuantizeOptions = {
  method: 'mse',
  weightBits: INT8_WEIGHT_BITS,
  keepFloat: tailConvs,
  equalize: 0,
};

/**
 * Settings measured better for one network than DEFAULT_OPTIONS (`npm run bench:int8`,
 * docs/int8.md), keyed by catalog id. x4plus: min/max ranges with its dense blocks' Concats
 * equalized (`minmax-w8-eqc`): 40.35 dB vs fp32 and 0.011 dB PSNR-Y loss, against 37.61 and
 * 0.188 with the defaults (8-bit weights, a VNNI CPU).
 */
export const MODEL_OPTIONS: ReadonlyMap<string, Partial<QuantizeOptions>> = new Map([
  ['realesrgan-x4plus', { method: 'minmax', equalizeConcats: true }],
]);

/**
 * Static int8 (QDQ) version of a network we converted to fp32 ONNX; calibration runs on the
 * project's own photos, fed as ModelRunner feeds them (entry.inputRange, entry.channelOrder).
 * `weightBits`: this CPU's by default (int8-cpu.ts); the file is for CPUs of that kind.
 */
export async function quantizeInt8(
  fp32: Uint8Array,
  entry: ModelEntry,
  weightBits: WeightBits = INT8_WEIGHT_BITS,
): Promise<Uint8Array> {
  return quantizeWith(fp32, entry, { ...DEFAULT_OPTIONS, ...MODEL_OPTIONS.get(entry.id), weightBits });
}

export async function quantizeWith(
  fp32: Uint8Array,
  entry: ModelEntry,
  options: QuantizeOptions,
): Promise<Uint8Array> {
  const invalid = (message: string, cause?: unknown) =>
    new PixeliftError('model_format_invalid', { file: entry.id, message }, { cause });
  let convs: QuantizableConv[];
  let input: string;
  try {
    const g = graphOf(decodeModel(fp32));
    if ((g.input ?? []).length !== 1) throw new Error(`${(g.input ?? []).length} graph inputs`);
    input = g.input![0]!.name ?? '';
    convs = quantizableConvs(fp32);
  } catch (err) {
    throw invalid(`cannot quantize: not a readable ONNX graph (${(err as Error).message})`, err);
  }
  const keep = options.keepFloat(convs, fp32);
  const chosen = convs.filter((c) => !keep.has(c.name));
  if (chosen.length === 0) throw invalid('cannot quantize: no Conv with float weights to quantize');
  const [lo, hi] = entry.inputRange;
  const tensors = calibrationTensors(convs, fp32, entry);
  const calibrated = (graph: Uint8Array, names: readonly string[]) =>
    calibrate(
      graph,
      names.map((n) => tensors.get(n)!),
      entry,
      input,
    ).catch((err: unknown) => {
      throw invalid(`cannot quantize: the calibration run failed (${(err as Error).message})`, err);
    });
  const names = new Set(chosen.map((c) => c.name));
  const pairs =
    options.equalize > 0
      ? equalizablePairs(fp32).filter((p) => names.has(p.first) && names.has(p.second))
      : [];
  if (pairs.length > 0) {
    const before = await calibrated(
      fp32,
      pairs.map((p) => p.firstOutput),
    );
    const scales = new Map<string, Float32Array>();
    for (const p of pairs) {
      const r = before.get(p.firstOutput)!.channelMax;
      const top = Math.max(...r);
      if (!(top > 0) || !Number.isFinite(top)) continue;
      // A channel that is (almost) always 0 is scaled by at most 100^α.
      scales.set(
        p.first,
        Float32Array.from(r, (v) => (top / Math.max(v, top / 100)) ** options.equalize),
      );
    }
    fp32 = equalize(fp32, pairs, scales);
  }
  const joins = options.equalizeConcats
    ? concatJoins(fp32).filter(
        (j) =>
          names.has(j.first) &&
          j.readers.every((r) => names.has(r.conv)) &&
          [j.firstOutput, ...j.joined].every((v) => tensors.has(v)),
      )
    : [];
  if (joins.length > 0) {
    const before = await calibrated(fp32, [...new Set(joins.flatMap((j) => [j.firstOutput, ...j.joined]))]);
    const scales = new Map<string, Float32Array>();
    for (const j of joins) {
      const top = Math.max(...j.joined.flatMap((v) => [...before.get(v)!.channelMax]));
      if (!(top > 0) || !Number.isFinite(top)) continue;
      // Only down: a channel within the joined values' range keeps its scale.
      scales.set(
        j.first,
        Float32Array.from(before.get(j.firstOutput)!.channelMax, (v) =>
          Math.min(1, top / Math.max(v, top / 100)),
        ),
      );
    }
    fp32 = equalizeJoins(fp32, joins, scales);
  }
  const wanted = activationsOf(chosen).filter((v) => v !== input);
  const stats = await calibrated(fp32, wanted);
  const ranges = new Map<string, Range>([[input, { min: lo, max: hi }]]);
  const written = new Set(chosen.map((c) => c.output));
  for (const [name, s] of stats) {
    if (!Number.isFinite(s.min) || !Number.isFinite(s.max)) {
      throw invalid(`cannot quantize: ${name} is not finite on the calibration photos`);
    }
    const minmax = options.method === 'minmax' || (options.method === 'minmax-outputs' && written.has(name));
    ranges.set(name, minmax ? { min: s.min, max: s.max } : mseRange(s));
  }
  return staticQdq(fp32, {
    ranges,
    convs: new Set(chosen.map((c) => c.name)),
    weightBits: options.weightBits,
  });
}

// ---------------------------------------------------------------------------------------------
// Calibration

const CALIBRATION_DIR = fileURLToPath(new URL('../../../assets/calibration/', import.meta.url));
const CALIBRATION_PHOTOS = ['astronaut.png', 'chelsea.png'];
/** Calibration windows: every whole 64 px square of each photo (6 in all, 24.6 kpx). */
const WINDOW = 64;
/**
 * Bytes of exposed activations per calibration run; more tensors are split over more runs,
 * each a session of its own and a pass over the windows. At 64 px windows x4fast exposes
 * 67 MiB, rrdn-thick 394 MiB, x4plus 899 MiB: 512 MiB runs the first two in one session and
 * x4plus in two, while a worker quantizing in the background stays near its memory budget.
 */
const RUN_BUDGET = 512 * 2 ** 20;
/** Values kept per activation per window for choosing its range (a fixed stride, so deterministic). */
const SAMPLES_PER_WINDOW = 4096;

export interface ActivationStats {
  min: number;
  max: number;
  /** Largest |value| per channel. */
  channelMax: Float32Array;
  samples: number[];
}

/** The decoded windows, once per process: every quantization reads the same photos. */
let windowsOnce: Promise<readonly Float32Array[]> | undefined;

/** RGB 0..1 CHW windows of the calibration photos (decoded once per process; do not modify). */
export function calibrationWindows(): Promise<readonly Float32Array[]> {
  windowsOnce ??= decodeWindows();
  windowsOnce.catch(() => {
    windowsOnce = undefined;
  });
  return windowsOnce;
}

async function decodeWindows(): Promise<Float32Array[]> {
  const windows: Float32Array[] = [];
  for (const file of CALIBRATION_PHOTOS) {
    const { data, info } = await sharp(readFileSync(`${CALIBRATION_DIR}${file}`))
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    for (let y = 0; y + WINDOW <= info.height; y += WINDOW) {
      for (let x = 0; x + WINDOW <= info.width; x += WINDOW) {
        const chw = new Float32Array(3 * WINDOW * WINDOW);
        for (let c = 0; c < 3; c++)
          for (let j = 0; j < WINDOW; j++)
            for (let i = 0; i < WINDOW; i++)
              chw[(c * WINDOW + j) * WINDOW + i] = data[((y + j) * info.width + x + i) * 3 + c]! / 255;
        windows.push(chw);
      }
    }
  }
  return windows;
}

/** An activation to calibrate: its channel count and how many times the input's area it has. */
export interface CalibrationTensor {
  readonly name: string;
  readonly channels: number;
  readonly area: number;
}

/** The tensors convs read and write, with channels from their weights; upsampled ones (tailConvs) counted at scale² area. */
export function calibrationTensors(
  convs: readonly QuantizableConv[],
  fp32: Uint8Array,
  entry: ModelEntry,
): Map<string, CalibrationTensor> {
  const tail = tailConvs(convs, fp32);
  const area = Math.max(...entry.scales) ** 2;
  const out = new Map<string, CalibrationTensor>();
  for (const c of convs) {
    const a = tail.has(c.name) ? area : 1;
    const add = (name: string, channels: number) => {
      const had = out.get(name);
      if (!had || had.area < a) out.set(name, { name, channels, area: a });
    };
    add(c.input, c.inChannels);
    add(c.output, c.outChannels);
  }
  return out;
}

/**
 * Range statistics of `tensors` over the calibration windows, with as few sessions as
 * RUN_BUDGET allows (each session exposes a group of tensors as graph outputs).
 */
export async function calibrate(
  fp32: Uint8Array,
  tensors: readonly CalibrationTensor[],
  entry: ModelEntry,
  input: string,
): Promise<Map<string, ActivationStats>> {
  const [lo, hi] = entry.inputRange;
  const windows = (await calibrationWindows()).map((w) =>
    toModelRange(w, lo, hi, entry.channelOrder === 'bgr'),
  );
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: DEFAULTS.threads,
    graphOptimizationLevel: 'basic',
    logSeverityLevel: 3,
  };
  const feed = (w: Float32Array) => ({ [input]: new ort.Tensor('float32', w, [1, 3, WINDOW, WINDOW]) });
  const groups: CalibrationTensor[][] = [[]];
  let bytes = 0;
  for (const t of tensors) {
    const b = t.channels * t.area * WINDOW * WINDOW * 4;
    if (bytes + b > RUN_BUDGET && groups.at(-1)!.length > 0) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1)!.push(t);
    bytes += b;
  }
  const stats = new Map<string, ActivationStats>(
    tensors.map((t) => [
      t.name,
      {
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
        channelMax: new Float32Array(t.channels),
        samples: [],
      },
    ]),
  );
  for (const group of groups) {
    const session = await ort.InferenceSession.create(
      exposeTensors(
        fp32,
        group.map((t) => t.name),
      ),
      options,
    );
    try {
      for (const w of windows) {
        const result = await session.run(feed(w));
        for (const { name } of group) {
          const data = result[name]?.data as Float32Array | undefined;
          if (!data) throw new Error(`no value for ${name}`);
          const s = stats.get(name)!;
          const plane = data.length / s.channelMax.length;
          if (!Number.isInteger(plane)) {
            throw new Error(
              `${name} has ${data.length} values, not a multiple of ${s.channelMax.length} channels`,
            );
          }
          for (let c = 0; c < s.channelMax.length; c++) {
            let min = Number.POSITIVE_INFINITY;
            let max = Number.NEGATIVE_INFINITY;
            for (let i = c * plane; i < (c + 1) * plane; i++) {
              const v = data[i]!;
              if (v < min) min = v;
              if (v > max) max = v;
            }
            if (min < s.min) s.min = min;
            if (max > s.max) s.max = max;
            s.channelMax[c] = Math.max(s.channelMax[c]!, -min, max);
          }
          const step = Math.max(1, Math.floor(data.length / SAMPLES_PER_WINDOW));
          for (let i = step >> 1; i < data.length; i += step) s.samples.push(data[i]!);
        }
      }
    } finally {
      await session.release();
    }
  }
  return stats;
}

/**
 * The uint8 range with the least squared quantization error over the samples (clipping
 * included), searched over shrinking each end of [min, max].
 */
export function mseRange(s: ActivationStats): Range {
  const lo0 = Math.min(0, s.min);
  const hi0 = Math.max(0, s.max);
  let best = { min: lo0, max: hi0 };
  let bestErr = Number.POSITIVE_INFINITY;
  const xs = s.samples;
  for (const a of [1, 0.8, 0.6, 0.4]) {
    for (let k = 0; k <= 14; k++) {
      const b = 1 - k * 0.05;
      const lo = lo0 * a;
      const hi = hi0 * b;
      if (hi <= lo) continue;
      const scale = (hi - lo) / 255;
      const zp = Math.round(-lo / scale);
      let err = 0;
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i]!;
        const q = Math.max(0, Math.min(255, Math.round(x / scale) + zp));
        const d = (q - zp) * scale - x;
        err += d * d;
      }
      if (err < bestErr) {
        bestErr = err;
        best = { min: lo, max: hi };
      }
    }
  }
  return best;
}

/**
 * `node dist/bench/precision.js`: "push further" experiments on Real-ESRGAN x4fast/x4plus at one
 * tile size: session options (graph optimization level, threads, spinning, execution mode,
 * denormals) and weight/activation precision (fp16 weight storage, int8 dynamic, int8 static
 * QDQ), each as speed gained and PSNR lost against the default fp32 session's output; and
 * whether the CPU provider has bf16 / fp16 Conv kernels at all.
 *
 * Flags: --models=realesrgan-x4fast,realesrgan-x4plus, --tile=128, --variants=id,id, --json.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type ort from 'onnxruntime-node';
import { BUILTIN_MODELS } from '../src/models/catalog.js';
import { quantizeInt8 } from '../src/models/quantize.js';
import { type BenchModel, selectModels } from './lib/bench-models.js';
import { probeConvKernel } from './lib/kernel-probe.js';
import { cores, loadAverage, type TimingPolicy, timeSettled } from './lib/measure.js';
import { dynamicInt8Convs, initializerBytes, opCounts, weightsToFp16 } from './lib/onnx-rewrite.js';
import {
  createSession,
  defaultSessionOptions,
  feed,
  runOutput,
  type SessionOptions,
} from './lib/ort-session.js';
import { compare } from './lib/psnr.js';
import { syntheticImage } from './lib/synthetic-image.js';
import { fmt, formatTable } from './lib/table.js';

interface Context {
  readonly id: string;
  readonly onnx: Uint8Array;
  readonly channels: number;
}

interface Variant {
  readonly id: string;
  readonly what: string;
  readonly options?: SessionOptions;
  readonly build?: (ctx: Context) => Promise<Uint8Array> | Uint8Array;
}

const base = defaultSessionOptions();
const withOptions = (o: SessionOptions): SessionOptions => ({ ...base, ...o });

const VARIANTS: readonly Variant[] = [
  { id: 'default', what: `fp32, ${base.intraOpNumThreads} threads, opt 'all' (reference)` },
  {
    id: 'opt-disabled',
    what: "graphOptimizationLevel 'disabled'",
    options: withOptions({ graphOptimizationLevel: 'disabled' }),
  },
  {
    id: 'opt-basic',
    what: "graphOptimizationLevel 'basic'",
    options: withOptions({ graphOptimizationLevel: 'basic' }),
  },
  {
    id: 'opt-extended',
    what: "graphOptimizationLevel 'extended'",
    options: withOptions({ graphOptimizationLevel: 'extended' }),
  },
  {
    id: 'opt-layout',
    what: "graphOptimizationLevel 'layout'",
    options: withOptions({ graphOptimizationLevel: 'layout' }),
  },
  { id: 'threads-1', what: 'intraOpNumThreads 1', options: withOptions({ intraOpNumThreads: 1 }) },
  {
    id: 'no-spin',
    what: 'intra-op threads do not spin (session.intra_op.allow_spinning=0)',
    options: withOptions({ extra: { session: { intra_op: { allow_spinning: '0' } } } }),
  },
  {
    id: 'parallel-2x1',
    what: "executionMode 'parallel', interOp 2, intraOp 1",
    options: withOptions({ executionMode: 'parallel', interOpNumThreads: 2, intraOpNumThreads: 1 }),
  },
  {
    id: 'parallel-2x2',
    what: "executionMode 'parallel', interOp 2, intraOp 2",
    options: withOptions({ executionMode: 'parallel', interOpNumThreads: 2, intraOpNumThreads: 2 }),
  },
  {
    id: 'denormals-zero',
    what: 'session.set_denormal_as_zero=1',
    options: withOptions({ extra: { session: { set_denormal_as_zero: '1' } } }),
  },
  {
    id: 'fp16-weights',
    what: 'Conv weights stored fp16, Cast to fp32 in the graph',
    build: (c) => weightsToFp16(c.onnx),
  },
  {
    id: 'int8-dynamic',
    what: 'DynamicQuantizeLinear (u8) + ConvInteger, per-channel s8 weights',
    build: (c) => dynamicInt8Convs(c.onnx),
  },
  {
    id: 'int8-static',
    what: 'quantizeInt8 (src/models/quantize.ts): QDQ, calibrated on assets/calibration → QLinearConv',
    build: (c) => {
      const entry = BUILTIN_MODELS.find((m) => m.id === c.id);
      if (!entry) throw new RangeError(`${c.id} is not a built-in model`);
      return quantizeInt8(c.onnx, entry);
    },
  },
  // The reference again, last: its distance from 1.00× is the run-to-run noise of this machine.
  { id: 'default-again', what: 'the default session again, measured last (noise check)', options: base },
];

interface Row {
  readonly model: string;
  readonly variant: string;
  readonly what: string;
  readonly medianMs?: number;
  readonly runs?: number;
  readonly kpxPerS?: number;
  readonly speedup?: number;
  readonly psnr?: number;
  readonly maxAbs?: number;
  readonly cpuShare?: number;
  readonly attempts?: number;
  readonly sessionMs?: number;
  /** What onnxruntime made of the graph (from its optimized-model dump). */
  readonly note?: string;
  readonly error?: string;
}

const progress = (msg: string) => process.stderr.write(`${msg}\n`);

function parseFlags() {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'realesrgan-x4fast,realesrgan-x4plus' },
      tile: { type: 'string', default: '128' },
      variants: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const tile = Number(values.tile);
  if (!Number.isInteger(tile) || tile < 8 || tile > 1024) {
    throw new RangeError(`Expected an integer 8..1024 for --tile but received "${values.tile}"`);
  }
  const ids = values.variants?.split(',');
  for (const id of ids ?? []) {
    if (!VARIANTS.some((v) => v.id === id)) {
      throw new RangeError(
        `Expected --variants from ${VARIANTS.map((v) => v.id).join(', ')} but received "${id}"`,
      );
    }
  }
  return {
    models: selectModels(values.models.split(',')),
    tile,
    variants: VARIANTS.filter((v) => v.id === 'default' || !ids || ids.includes(v.id)),
    json: values.json,
  };
}

const policy: TimingPolicy = { warmups: 1, minRuns: 3, maxRuns: 15, budgetMs: 4000 };

/** Op types worth naming in a note: what the int8/fp16 rewrites turned into. */
const NOTABLE = /Conv|Cast|Quantize|QLinear|Integer|MatMul/;

function describeOptimized(file: string, built: Uint8Array): string {
  const bytes = readFileSync(file);
  const counts = opCounts(bytes);
  const ops = [...counts]
    .filter(([op]) => NOTABLE.test(op))
    .map(([op, n]) => `${n} ${op.replace(/^com\.microsoft\./, 'ms.')}`)
    .join(', ');
  const inits = initializerBytes(bytes);
  const mib = Object.entries(inits)
    .filter(([, b]) => b > 1 << 16)
    .map(([t, b]) => `${t} ${(b / 2 ** 20).toFixed(1)} MiB`)
    .join(', ');
  // The fp16 question: does the runtime keep the half-size weights, or fold the Casts away?
  const folded =
    (initializerBytes(built).FLOAT16 ?? 0) > 0 && !counts.has('Cast') && !inits.FLOAT16
      ? ' — the weight Casts were constant-folded: weights are fp32 in memory again'
      : '';
  return `optimized graph: ${ops}; initializers ${mib}${folded}`;
}

async function benchModel(
  model: BenchModel,
  flags: ReturnType<typeof parseFlags>,
  tmp: string,
): Promise<Row[]> {
  const imported = await model.load();
  const ctx: Context = { id: model.id, onnx: imported.onnx, channels: imported.stats.inputChannels };
  const inputs = feed(syntheticImage(flags.tile, 1), ctx.channels, flags.tile);
  const px = flags.tile ** 2;
  const rows: Row[] = [];
  let reference: { out: Float32Array; ms: number } | undefined;
  for (const v of flags.variants) {
    try {
      const onnx = v.build ? await v.build(ctx) : ctx.onnx;
      const dump = path.join(tmp, `${model.id}-${v.id}.onnx`);
      const options: SessionOptions = { ...(v.options ?? base), logSeverityLevel: 3 };
      // Only rewritten graphs are dumped: the note says what onnxruntime fused or folded.
      if (v.build) options.optimizedModelFilePath = dump;
      const t0 = performance.now();
      const session: ort.InferenceSession = await createSession(onnx, options);
      const sessionMs = performance.now() - t0;
      let out: Float32Array = new Float32Array(0);
      // A run on an idle machine keeps its intra-op threads busy (spinning ones even between ops).
      const threads = options.intraOpNumThreads ?? cores();
      const expectedShare = Math.min(1, threads / cores()) * (v.id === 'no-spin' ? 0.5 : 1);
      const t = await timeSettled(
        async () => {
          out = await runOutput(session, inputs);
        },
        policy,
        { maxWaitMs: 20_000, attempts: 2, expectedShare },
      );
      await session.release();
      reference ??= { out, ms: t.medianMs };
      const diff = compare(reference.out, out);
      rows.push({
        model: model.id,
        variant: v.id,
        what: v.what,
        medianMs: t.medianMs,
        runs: t.runsMs.length,
        kpxPerS: px / t.medianMs,
        speedup: reference.ms / t.medianMs,
        psnr: diff.psnr,
        maxAbs: diff.maxAbs,
        cpuShare: t.cpuShare,
        attempts: t.attempts,
        sessionMs,
        note: v.build ? describeOptimized(dump, onnx) : undefined,
      });
      progress(`${model.id} ${v.id}: ${fmt(t.medianMs)} ms, PSNR ${fmt(diff.psnr)} dB`);
    } catch (err) {
      const message = (err as Error).message.split('\n')[0]!.slice(0, 300);
      rows.push({ model: model.id, variant: v.id, what: v.what, error: message });
      progress(`${model.id} ${v.id}: failed: ${message}`);
    }
  }
  return rows;
}

async function main(): Promise<void> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags();
  } catch (err) {
    process.stderr.write(
      `${(err as Error).message}\nusage: node dist/bench/precision.js [--models=a,b] [--tile=128] [--variants=id,id] [--json]\n`,
    );
    process.exitCode = 2;
    return;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pixelift-precision-'));
  const load = loadAverage();
  try {
    const kernels = [await probeConvKernel('bfloat16'), await probeConvKernel('float16')];
    const rows: Row[] = [];
    for (const m of flags.models) rows.push(...(await benchModel(m, flags, tmp)));
    if (flags.json) {
      process.stdout.write(
        `${JSON.stringify({ tile: flags.tile, kernels, rows, load: [load, loadAverage()] }, null, 2)}\n`,
      );
      return;
    }
    const out: string[] = [
      `Pixelift precision / session-option experiments — tile ${flags.tile}², ${cores()} cores, ${os.cpus()[0]?.model ?? ''}`,
      `speed-up and PSNR are against the 'default' row of the same model (its fp32 output is the reference)`,
      '',
    ];
    out.push(
      formatTable(
        [
          'model',
          'variant',
          'runs',
          'ms',
          'kpx/s',
          'speed-up',
          'PSNR dB',
          'max |Δ|',
          'cpu',
          'tries',
          'session ms',
        ],
        rows.map((r) =>
          r.error
            ? [r.model, r.variant, '–', '–', '–', '–', '–', '–', '–', '–', `failed: ${r.error}`]
            : [
                r.model,
                r.variant,
                r.runs!,
                fmt(r.medianMs!),
                fmt(r.kpxPerS!),
                `${r.speedup!.toFixed(2)}×`,
                Number.isFinite(r.psnr!) ? r.psnr!.toFixed(1) : 'identical',
                r.maxAbs!.toExponential(1),
                `${(r.cpuShare! * 100).toFixed(0)}%`,
                r.attempts!,
                fmt(r.sessionMs!),
              ],
        ),
      ),
      '',
      'Variants:',
      ...flags.variants.map((v) => `  ${v.id.padEnd(17)} ${v.what}`),
      '',
      'What onnxruntime made of the rewritten graphs:',
      ...rows.filter((r) => r.note).map((r) => `  ${r.model} ${r.variant}: ${r.note}`),
      '',
      'Reduced-precision Conv kernels in the CPU provider:',
      ...kernels.map(
        (k) =>
          `  ${k.type} (opset ${k.opset}): ${k.native ? 'native kernel' : 'no native kernel'} — ${k.evidence}`,
      ),
      '',
      `load average ${load.toFixed(2)} at start, ${loadAverage().toFixed(2)} at end; "cpu" below ~95% means another process competed.`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

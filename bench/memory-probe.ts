/**
 * bench/memory-probe — where the pipeline's peak memory goes on one photo (issue 12), and what
 * each onnxruntime / sharp / glibc knob gives back at what cost in time.
 *
 * Every variant runs in its own child process: a warm-up on a 64 px crop opens the sessions,
 * then the RSS before the run (`start`: node, onnxruntime, sharp, the sessions and their warm-up
 * arenas), the peak of the run (VmHWM reset through /proc/self/clear_refs) and its wall and CPU
 * time (user + sys, steadier than wall time on a shared machine) are taken over `--runs` runs
 * (peak: the first; times: the median). Session and run options are changed by wrapping
 * onnxruntime's own entry points, so the pipeline runs exactly as it ships otherwise.
 *
 *   node --expose-gc dist/bench/memory-probe.js [--model=realesrgan-x4fast --photo=rocket.jpg
 *        --runs=2 --budget=3G --variants=default,no-arena,...]
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { workerEnv } from '../src/config.js';
import { parseByteSize } from '../src/engine/memory.js';
import { upscaleImage } from '../src/engine/pipeline.js';
import { median } from './lib/measure.js';
import {
  cpuMs,
  gc,
  PROBE_OPTIONS,
  photoPath,
  probeStore,
  resetPeak,
  procStatus as status,
} from './lib/probe.js';
import { fmt, formatTable } from './lib/table.js';

const MB = 2 ** 20;

interface Variant {
  /** onnxruntime session options merged over the pipeline's. */
  readonly session?: ort.InferenceSession.SessionOptions;
  readonly sharpCache?: false;
  readonly sharpConcurrency?: number;
  /** Memory budget, e.g. "256M" (default: --budget). */
  readonly budget?: string;
  /** Environment for the child (glibc malloc tunables). */
  readonly env?: Record<string, string>;
  readonly what: string;
}

const VARIANTS: Record<string, Variant> = {
  default: { what: 'as shipped (arena on, mem pattern off, malloc on huge pages)' },
  'no-arena': { session: { enableCpuMemArena: false }, what: 'enableCpuMemArena: false' },
  'no-huge-pages': {
    env: { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' },
    what: 'malloc on 4 KiB pages (before 2 December 2026)',
  },
  'no-arena-4k': {
    session: { enableCpuMemArena: false },
    env: { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' },
    what: 'arena off, malloc on 4 KiB pages',
  },
  'no-arena-heap': {
    session: { enableCpuMemArena: false },
    env: { MALLOC_MMAP_THRESHOLD_: String(2 ** 30), MALLOC_TRIM_THRESHOLD_: String(2 ** 30) },
    what: 'arena off; glibc serves big tensors from its heap (no mmap page faults)',
  },
  'mem-pattern': { session: { enableMemPattern: true }, what: 'enableMemPattern: true' },
  'sharp-nocache': { sharpCache: false, sharpConcurrency: 1, what: 'sharp.cache(false), concurrency 1' },
  'malloc-arenas-2': { env: { MALLOC_ARENA_MAX: '2' }, what: 'MALLOC_ARENA_MAX=2' },
  'budget-1G': { budget: '1G', what: 'memory budget 1 GiB' },
  'budget-512M': { budget: '512M', what: 'memory budget 512 MiB' },
  'budget-256M': { budget: '256M', what: 'memory budget 256 MiB' },
  'budget-128M': { budget: '128M', what: 'memory budget 128 MiB' },
  'budget-64M': { budget: '64M', what: 'memory budget 64 MiB' },
};

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    ...PROBE_OPTIONS,
    runs: { type: 'string', default: '2' },
    budget: { type: 'string', default: '3G' },
    variants: { type: 'string', default: Object.keys(VARIANTS).join(',') },
  },
});

interface Measured {
  start: number;
  peak: number;
  wallMs: number;
  cpuMs: number;
  outputBytes: number;
  tiling: string;
}

async function child(name: string): Promise<Measured> {
  const v = VARIANTS[name]!;
  if (v.session) {
    const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
      m: string | Uint8Array,
      o?: ort.InferenceSession.SessionOptions,
    ) => Promise<ort.InferenceSession>;
    (ort.InferenceSession as unknown as { create: typeof create }).create = (m, o) =>
      create(m, { ...o, ...v.session });
  }
  if (v.sharpCache === false) sharp.cache(false);
  if (v.sharpConcurrency) sharp.concurrency(v.sharpConcurrency);
  const budget = parseByteSize(v.budget ?? args.budget!)!;
  const store = probeStore(args.cache);
  const photo = photoPath(args.photo);
  const opts = { model: args.model, scale: 4, format: 'png' as const, memoryBudget: budget };
  const crop = await sharp(photo).extract({ left: 0, top: 0, width: 64, height: 64 }).png().toBuffer();
  await upscaleImage(store, crop, opts);
  gc();
  const start = status('VmRSS');
  resetPeak();
  const walls: number[] = [];
  const cpus: number[] = [];
  let peak = 0;
  let last: Awaited<ReturnType<typeof upscaleImage>> | undefined;
  for (let r = 0; r < Number(args.runs); r++) {
    const [t, c] = [performance.now(), cpuMs()];
    last = await upscaleImage(store, photo, opts);
    walls.push(performance.now() - t);
    cpus.push(cpuMs() - c);
    if (r === 0) peak = status('VmHWM');
  }
  await store.close();
  return {
    start,
    peak,
    wallMs: median(walls),
    cpuMs: median(cpus),
    outputBytes: last!.data.length,
    tiling: last!.info.tiling,
  };
}

if (args.child) {
  console.log(JSON.stringify(await child(args.child)));
  process.exit(0);
}

const names = args.variants!.split(',');
for (const n of names) if (!VARIANTS[n]) throw new RangeError(`--variants: unknown ${n}`);
console.log(
  `memory-probe — ${args.model}, ${args.photo}, ${os.availableParallelism()} cores, load ${os.loadavg()[0]!.toFixed(1)}, budget ${args.budget} unless the variant sets one, ${args.runs} runs`,
);
const rows: (string | number)[][] = [];
let base: Measured | undefined;
for (const n of names) {
  const v = VARIANTS[n]!;
  const out = execFileSync(
    process.execPath,
    [
      '--expose-gc',
      fileURLToPath(import.meta.url),
      `--child=${n}`,
      ...['model', 'photo', 'runs', 'budget', 'cache'].map((k) => `--${k}=${args[k as keyof typeof args]}`),
    ],
    // The worker pool's child environment (huge pages for malloc) unless the variant says otherwise.
    { encoding: 'utf8', env: { ...workerEnv(), ...v.env }, maxBuffer: 1 << 24 },
  );
  const m = JSON.parse(out.trim().split('\n').pop()!) as Measured;
  base ??= m;
  rows.push([
    n,
    fmt(m.start / MB, 4),
    fmt(m.peak / MB, 4),
    fmt((m.peak - m.start) / MB, 4),
    fmt(m.wallMs / 1000),
    fmt(m.cpuMs / 1000),
    `${((m.cpuMs / base.cpuMs - 1) * 100).toFixed(0)}%`,
    v.what,
  ]);
  console.error(`  ${rows.at(-1)!.join('  ')}`);
}
console.log(
  `\n${formatTable(['variant', 'start MB', 'peak MB', 'run MB', 'wall s', 'cpu s', 'cpu vs first', 'what'], rows)}`,
);
console.log(
  '\nstart: RSS after the warm-up (node, onnxruntime, sharp, sessions); run MB: peak − start; cpu: user + sys of the process during one run (median).',
);

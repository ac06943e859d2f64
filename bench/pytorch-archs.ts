/**
 * `node dist/bench/pytorch-archs.js`: the transformer and large-kernel architectures of the
 * PyTorch importer at their published sizes (random weights), run by onnxruntime as Pixelift
 * builds them, beside PyTorch on the same weights and tile in the same run:
 *
 *   1. the machine's conv peak in onnxruntime (GFLOP/s), for scale;
 *   2. per network: parameters, MFLOP per input pixel, onnxruntime kpx/s and GFLOP/s (share of
 *      the conv peak), PyTorch kpx/s, the speed ratio, and the max abs difference of the two
 *      outputs on that full-size tile (the fixtures' tests check tiny models; this checks the
 *      published sizes).
 *
 * Needs torch for /usr/bin/python3 (scripts/pytorch-fixtures/bench_models.py makes the weights
 * and times PyTorch). Flags: --side=64 (tile side), --models=a,b, --no-peak, --torch-runs=2.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { importPytorch } from '../src/models/pytorch/import.js';
import { readSafetensors } from '../src/models/pytorch/safetensors.js';
import { measurePeak } from './lib/conv-peak.js';
import { cores, loadAverage, median, timeRuns } from './lib/measure.js';
import { createSession } from './lib/ort-session.js';
import { type Cell, fmt, formatTable } from './lib/table.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../../scripts/pytorch-fixtures/bench_models.py',
);

const { values } = parseArgs({
  options: {
    side: { type: 'string', default: '64' },
    models: { type: 'string' },
    'no-peak': { type: 'boolean', default: false },
    'torch-runs': { type: 'string', default: '2' },
  },
});
const side = Number(values.side);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-archs-'));

console.error(
  `cores ${cores()}, load ${loadAverage().toFixed(2)}, tile ${side}×${side}; PyTorch making weights and timing…`,
);
const py = spawnSync(
  PYTHON,
  [SCRIPT, dir, String(side), values['torch-runs']!, ...(values.models?.split(',') ?? [])],
  { cwd: path.dirname(SCRIPT), encoding: 'utf8', maxBuffer: 1 << 24 },
);
if (py.status !== 0) {
  console.error(`bench_models.py failed (torch for ${PYTHON} is required):\n${py.stderr}`);
  process.exit(1);
}
const torchRuns = py.stdout
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { id: string; torchMs: number[]; threads: number });

const peak = values['no-peak'] ? undefined : Math.max(...(await measurePeak()).map((p) => p.gflops));
const rows: Cell[][] = [];
for (const t of torchRuns) {
  console.error(`${t.id}…`);
  const imported = importPytorch(path.join(dir, `${t.id}.safetensors`));
  const io = readSafetensors(fs.readFileSync(path.join(dir, `${t.id}.io.safetensors`)));
  const input = io.get('input')!;
  const expected = io.get('output')!.data;
  const session = await createSession(imported.onnx);
  const feeds = { input: new ort.Tensor('float32', input.data, [...input.shape]) };
  let maxDiff = 0;
  const out = (await session.run(feeds)).output!.data as Float32Array;
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - expected[i]!));
  const timing = await timeRuns(() => session.run(feeds), {
    warmups: 1,
    minRuns: 3,
    maxRuns: 7,
    budgetMs: 8000,
  });
  await session.release();
  const px = side * side;
  const ortKpx = px / timing.medianMs;
  const torchKpx = px / median(t.torchMs);
  const gflops = (imported.stats.flopsPerInputPixel * px) / timing.medianMs / 1e6;
  rows.push([
    t.id,
    `${fmt(imported.stats.params / 1e6)} M`,
    fmt(imported.stats.flopsPerInputPixel / 1e6),
    fmt(ortKpx),
    peak ? `${fmt(gflops)} (${Math.round((100 * gflops) / peak)} %)` : fmt(gflops),
    fmt(torchKpx),
    `${fmt(ortKpx / torchKpx)}×`,
    maxDiff.toExponential(1),
    fmt(timing.cpuShare, 2),
  ]);
}
fs.rmSync(dir, { recursive: true, force: true });
if (peak) console.log(`conv peak (onnxruntime, ${cores()} threads): ${fmt(peak)} GFLOP/s`);
console.log(
  formatTable(
    [
      'network',
      'params',
      'MFLOP/px',
      'ort kpx/s',
      'ort GFLOP/s (of peak)',
      'torch kpx/s',
      'ort ÷ torch',
      'max |Δ|',
      'cpu share',
    ],
    rows,
  ),
);
console.log(
  `tile ${side}×${side}; medians; PyTorch ${torchRuns[0]?.threads ?? '?'} threads, onnxruntime as the server runs it.`,
);

/**
 * `npm run bench:face-restorers`: the face restorers of the PyTorch importer (GFPGAN v1.4 clean,
 * CodeFormer, RestoreFormer++) at their published size (512² faces, random weights), run by onnxruntime as
 * Pixelift builds them, beside PyTorch on the same weights and face in the same run: parameters,
 * GFLOP per face, ms per face in each, the speed ratio, and the max abs difference of the two
 * outputs at full size (the fixtures' tests check shrunken models; this checks the real ones).
 * CodeFormer runs at fidelity w = 0.5 (the fuse layers cost the same at any w > 0).
 *
 * Needs torch for /usr/bin/python3 (scripts/pytorch-fixtures/bench_faces.py makes the weights
 * and times PyTorch). Flags: --models=gfpgan-v1.4,codeformer,restoreformer-pp, --torch-runs=3.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { importPytorch } from '../src/models/pytorch/import.js';
import { readSafetensors } from '../src/models/pytorch/safetensors.js';
import { cores, loadAverage, median, timeRuns } from './lib/measure.js';
import { createSession } from './lib/ort-session.js';
import { type Cell, fmt, formatTable } from './lib/table.js';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.resolve(
  path.dirname(new URL(import.meta.url).pathname),
  '../../scripts/pytorch-fixtures/bench_faces.py',
);

const { values } = parseArgs({
  options: {
    models: { type: 'string' },
    'torch-runs': { type: 'string', default: '3' },
  },
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-faces-'));

console.error(`cores ${cores()}, load ${loadAverage().toFixed(2)}; PyTorch making 512² weights and timing…`);
const py = spawnSync(PYTHON, [SCRIPT, dir, values['torch-runs']!, ...(values.models?.split(',') ?? [])], {
  cwd: path.dirname(SCRIPT),
  encoding: 'utf8',
  maxBuffer: 1 << 24,
});
if (py.status !== 0) {
  console.error(`bench_faces.py failed (torch for ${PYTHON} is required):\n${py.stderr}`);
  process.exit(1);
}
const torchRuns = py.stdout
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l) as { id: string; torchMs: number[]; threads: number; w: number; params: number });

const rows: Cell[][] = [];
for (const t of torchRuns) {
  console.error(`${t.id}…`);
  const imported = importPytorch(path.join(dir, `${t.id}.safetensors`));
  const io = readSafetensors(fs.readFileSync(path.join(dir, `${t.id}.io.safetensors`)));
  const input = io.get('input')!;
  const expected = io.get('output')!.data;
  const session = await createSession(imported.onnx);
  const feeds: Record<string, ort.Tensor> = {
    input: new ort.Tensor('float32', input.data, [...input.shape]),
  };
  if (session.inputNames.includes('w')) feeds.w = new ort.Tensor('float32', Float32Array.of(t.w), [1]);
  let maxDiff = 0;
  const out = (await session.run(feeds)).output!.data as Float32Array;
  for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i]! - expected[i]!));
  const timing = await timeRuns(() => session.run(feeds), {
    warmups: 1,
    minRuns: 3,
    maxRuns: 5,
    budgetMs: 15000,
  });
  await session.release();
  const px = 512 * 512;
  const torchMs = median(t.torchMs);
  rows.push([
    `${imported.detection.arch} (${imported.detection.variant})`,
    `${fmt(imported.stats.params / 1e6)} M`,
    fmt((imported.stats.flopsPerInputPixel * px) / 1e9),
    fmt(timing.medianMs),
    fmt(torchMs),
    `${fmt(torchMs / timing.medianMs)}×`,
    maxDiff.toExponential(1),
    fmt(timing.cpuShare, 2),
  ]);
}
fs.rmSync(dir, { recursive: true, force: true });
console.log(
  formatTable(
    [
      'network',
      'params',
      'GFLOP/face',
      'ort ms/face',
      'torch ms/face',
      'ort speed-up',
      'max |Δ|',
      'cpu share',
    ],
    rows,
  ),
);
console.log(
  `512² faces; medians; PyTorch ${torchRuns[0]?.threads ?? '?'} threads, onnxruntime as the server runs it.`,
);

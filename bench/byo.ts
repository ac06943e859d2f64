/**
 * `npm run bench:byo`: a bring-your-own ESRGAN (RealESRGAN_x4plus's shape: RRDBNet 23 blocks,
 * 64 channels, growth 32, BasicSR keys in a .safetensors file with seeded random weights) run
 * through Pixelift's PyTorch importer, beside, in the same run:
 *   - the machine's conv peak (GFLOP/s), for the share of it each network reaches;
 *   - the built-in realesrgan-x4plus (the same network, from ncnn), when installed;
 *   - PyTorch itself on the same file, tiles and thread count (/usr/bin/python3; skipped with
 *     a how-to when torch does not import).
 *
 * Flags: --tiles=64,128 (input sides), --runs=5.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../src/config.js';
import type { ImportResult } from '../src/models/import/ncnn.js';
import { importPytorch } from '../src/models/pytorch/import.js';
import { BENCH_MODELS, ModelNotAvailable, REPO_ROOT } from './lib/bench-models.js';
import { measurePeak } from './lib/conv-peak.js';
import { loadAverage, median, timeSettled } from './lib/measure.js';
import { createSession, feed } from './lib/ort-session.js';
import { prng } from './lib/synthetic-image.js';
import { type Cell, fmt, formatTable } from './lib/table.js';

const PYTHON = '/usr/bin/python3';
const PEER = path.join(REPO_ROOT, 'bench/torch/rrdbnet_peer.py');

const { values } = parseArgs({
  options: { tiles: { type: 'string', default: '64,128' }, runs: { type: 'string', default: '5' } },
});
const tiles = values.tiles.split(',').map(Number);
const runs = Number(values.runs);

/** RRDBNet x4 in BasicSR keys with Kaiming-scaled random weights (×0.1, as BasicSR initialises RRDBs). */
function writeRrdbSafetensors(file: string, nf = 64, nb = 23, gc = 32): void {
  const rand = prng(2024);
  const tensors: [string, number[]][] = [];
  const conv = (name: string, cin: number, cout: number) => {
    tensors.push([`${name}.weight`, [cout, cin, 3, 3]], [`${name}.bias`, [cout]]);
  };
  conv('conv_first', 3, nf);
  for (let b = 0; b < nb; b++) {
    for (let r = 1; r <= 3; r++) {
      for (let k = 1; k <= 5; k++) conv(`body.${b}.rdb${r}.conv${k}`, nf + (k - 1) * gc, k === 5 ? nf : gc);
    }
  }
  for (const n of ['conv_body', 'conv_up1', 'conv_up2', 'conv_hr']) conv(n, nf, nf);
  conv('conv_last', nf, 3);
  const header: Record<string, unknown> = {};
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length === 4 ? shape[1]! * 9 : 1;
    const scale = shape.length === 4 ? 0.1 * Math.sqrt(2 / fanIn) * Math.sqrt(3) : 0;
    const data = Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    blobs.push(Buffer.from(data.buffer));
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...blobs]));
}

interface Row {
  readonly name: string;
  readonly flopsPerPixel: number;
  readonly msByTile: Map<number, number>;
}

async function timeOnnx(name: string, r: ImportResult): Promise<Row> {
  const session = await createSession(r.onnx);
  const msByTile = new Map<number, number>();
  for (const side of tiles) {
    const rand = prng(side);
    const inputs = feed(Float32Array.from({ length: 3 * side * side }, rand), 3, side);
    const t = await timeSettled(
      () => session.run(inputs),
      { warmups: 1, minRuns: runs, maxRuns: runs, budgetMs: 0 },
      { maxWaitMs: 10_000, attempts: 2, expectedShare: 1 },
    );
    msByTile.set(side, t.medianMs);
    process.stderr.write(`${name} tile ${side}: ${fmt(t.medianMs)} ms (CPU share ${fmt(t.cpuShare)})\n`);
  }
  await session.release();
  return { name, flopsPerPixel: r.stats.flopsPerInputPixel, msByTile };
}

function torchRow(file: string, flopsPerPixel: number): Row | string {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    return `PyTorch column skipped: \`${PYTHON} -c "import torch"\` failed. Install it with \`apt-get install python3-torch\` (Debian/Ubuntu) or \`${PYTHON} -m pip install torch numpy\`.`;
  }
  const out = execFileSync(
    PYTHON,
    [PEER, file, String(DEFAULTS.threads), String(runs), ...tiles.map(String)],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    },
  );
  const parsed = JSON.parse(out) as { torch: string; threads: number; tiles: Record<string, number[]> };
  const msByTile = new Map(tiles.map((s) => [s, median(parsed.tiles[String(s)] ?? [Number.NaN])]));
  return { name: `PyTorch ${parsed.torch} (${parsed.threads} threads, same file)`, flopsPerPixel, msByTile };
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-byo-'));
  const file = path.join(dir, 'byo-esrgan-x4.safetensors');
  try {
    writeRrdbSafetensors(file);
    const load0 = loadAverage();
    const peak = Math.max(...(await measurePeak()).map((p) => p.gflops));
    const t0 = performance.now();
    const byo = importPytorch(file);
    const convertMs = performance.now() - t0;
    process.stderr.write(`imported ${byo.detection.variant} in ${fmt(convertMs)} ms\n`);
    const rows: Row[] = [await timeOnnx('BYO ESRGAN (.safetensors → Pixelift)', byo)];
    const builtin = BENCH_MODELS.find((m) => m.id === 'realesrgan-x4plus')!;
    try {
      rows.push(await timeOnnx('built-in realesrgan-x4plus (ncnn → Pixelift)', await builtin.load()));
    } catch (err) {
      if (!(err instanceof ModelNotAvailable)) throw err;
      process.stderr.write(`built-in x4plus skipped: ${err.message}\n`);
    }
    const torch = torchRow(file, byo.stats.flopsPerInputPixel);
    if (typeof torch === 'string') process.stderr.write(`${torch}\n`);
    else rows.push(torch);

    const headers = ['network', ...tiles.flatMap((s) => [`tile ${s} kpx/s`, `tile ${s} of peak`])];
    const cells: Cell[][] = rows.map((r) => [
      r.name,
      ...tiles.flatMap((s) => {
        const ms = r.msByTile.get(s)!;
        const kpx = (s * s) / ms;
        const gflops = (r.flopsPerPixel * s * s) / ms / 1e6;
        return [fmt(kpx), `${Math.round((100 * gflops) / peak)}%`];
      }),
    ]);
    console.log(
      `\nBring-your-own ESRGAN (${byo.detection.variant}, ${(byo.stats.params / 1e6).toFixed(1)} M params, ` +
        `${fmt(byo.stats.flopsPerInputPixel / 1e6)} MFLOP/px); conv peak ${fmt(peak)} GFLOP/s; ` +
        `${DEFAULTS.threads} threads; medians of ${runs} runs; load ${fmt(load0)} → ${fmt(loadAverage())}\n`,
    );
    console.log(formatTable(headers, cells));
    if (typeof torch === 'string') console.log(`\n${torch}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();

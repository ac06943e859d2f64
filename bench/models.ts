/**
 * `npm run bench:models`: the figures the acceptance criteria are checked against.
 *
 *   1. the machine's conv peak in onnxruntime (GFLOP/s), measured before and after;
 *   2. each network × tile size: input kpx/s, achieved GFLOP/s and the share of that peak;
 *   3. the peer: RRDN-thick ×4 in TF.js (its published runtime) on the same tiles;
 *   4. a summary with the targets and PASS/FAIL.
 *
 * Flags: --quick (tiles 64,128; fewer runs), --models=a,b, --tiles=64,128,256,
 * --peer-tiles=64,128, --no-peer, --json (machine-readable result on stdout instead of tables).
 * Progress goes to stderr, so `--json > out.json` stays clean.
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { type BenchModel, ModelNotAvailable, selectModels, tfjsModelDir } from './lib/bench-models.js';
import { measurePeak, type PeakResult } from './lib/conv-peak.js';
import {
  cores,
  loadAverage,
  type SettlePolicy,
  type TimingPolicy,
  timeRuns,
  timeSettled,
} from './lib/measure.js';
import { createSession, defaultSessionOptions, feed, runOutput } from './lib/ort-session.js';
import { compare, type Difference } from './lib/psnr.js';
import { syntheticImage, toNhwc } from './lib/synthetic-image.js';
import { type Cell, fmt, formatTable } from './lib/table.js';
import { type PeerBackend, type PeerInfo, TfjsPeer } from './lib/tfjs-peer.js';

const TARGET_OF_PEAK = 0.7;
const TARGET_PEER_SPEEDUP = 5;
const PEAK_MODELS = ['realesrgan-x4plus', 'rrdn-thick'];
const PEER_MODEL = 'rrdn-thick';
/** A run whose process got less CPU than this share of the machine was slowed by another one. */
const CONTENDED = 0.9;

interface MeasuredTile {
  readonly side: number;
  readonly runsMs: readonly number[];
  readonly medianMs: number;
  readonly kpxPerS: number;
  readonly gflops: number;
  readonly cpuShare: number;
  /** Measurements taken until one was uncontended (see timeSettled). */
  readonly attempts: number;
}

interface TileResult extends MeasuredTile {
  /** Achieved GFLOP/s ÷ the machine peak (the better of the two peak measurements). */
  readonly ofPeak: number;
}

type ModelMeasurement<Tile> =
  | {
      readonly id: string;
      readonly source: string;
      readonly params: number;
      readonly flopsPerInputPixel: number;
      readonly importMs: number;
      readonly sessionMs: number;
      readonly tiles: Tile[];
    }
  | { readonly id: string; readonly source: string; readonly error: string };

type ModelResult = ModelMeasurement<TileResult>;

interface PeerRow {
  readonly instances: number;
  readonly side: number;
  readonly medianMs: number;
  readonly kpxPerS: number;
  readonly gflops: number;
  readonly cpuShare: number;
  readonly attempts: number;
}

interface PeerResult {
  readonly info?: PeerInfo;
  readonly probes: { backend: PeerBackend; kpxPerS?: number; error?: string }[];
  readonly rows: PeerRow[];
  /** TF.js output against the ONNX conversion's on one tile. */
  readonly agreement?: Difference;
  readonly error?: string;
}

interface Target {
  readonly name: string;
  readonly status: 'PASS' | 'FAIL' | 'N/A';
  readonly details: string[];
}

const USAGE = `usage: node dist/bench/models.js [--quick] [--models=a,b] [--tiles=64,128,256]
       [--peer-tiles=64,128] [--no-peer] [--json]`;

function parseFlags() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      models: { type: 'string' },
      tiles: { type: 'string' },
      'peer-tiles': { type: 'string' },
      'no-peer': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const sides = (flag: string, v: string | undefined, dflt: number[]) => {
    if (v === undefined) return dflt;
    return v.split(',').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 8 || n > 2048) {
        throw new RangeError(`Expected tile sides 8..2048 for ${flag} but received "${s}"`);
      }
      return n;
    });
  };
  const quick = values.quick;
  return {
    help: values.help,
    quick,
    json: values.json,
    peer: !values['no-peer'],
    models: selectModels(values.models?.split(',').map((s) => s.trim())),
    tiles: sides('--tiles', values.tiles, quick ? [64, 128] : [64, 128, 256]),
    peerTiles: sides('--peer-tiles', values['peer-tiles'], quick ? [64] : [64, 128]),
    policy: (quick
      ? { warmups: 1, minRuns: 3, maxRuns: 5, budgetMs: 1500 }
      : { warmups: 1, minRuns: 3, maxRuns: 11, budgetMs: 4000 }) satisfies TimingPolicy,
  };
}

type Flags = ReturnType<typeof parseFlags>;

const progress = (msg: string) => process.stderr.write(`${msg}\n`);

/** Wait up to 20 s for other processes to leave the CPU; measure up to 3 times if still contended. */
const settle = (expectedShare: number): SettlePolicy => ({ maxWaitMs: 20_000, attempts: 3, expectedShare });

async function benchModel(model: BenchModel, flags: Flags): Promise<ModelMeasurement<MeasuredTile>> {
  const t0 = performance.now();
  let imported: Awaited<ReturnType<BenchModel['load']>>;
  try {
    imported = await model.load();
  } catch (err) {
    // A missing package or a failing importer costs this model's rows, not the whole report.
    const message =
      err instanceof ModelNotAvailable ? err.message : `import failed: ${(err as Error).message}`;
    progress(`${model.id}: not available: ${message}`);
    return { id: model.id, source: model.source, error: message };
  }
  const importMs = performance.now() - t0;
  const t1 = performance.now();
  const session = await createSession(imported.onnx);
  const sessionMs = performance.now() - t1;
  const { stats } = imported;
  const tiles: MeasuredTile[] = [];
  for (const side of flags.tiles) {
    const inputs = feed(syntheticImage(side, 1), stats.inputChannels, side);
    const t = await timeSettled(() => session.run(inputs), flags.policy, settle(1));
    const px = side * side;
    const gflops = (stats.flopsPerInputPixel * px) / t.medianMs / 1e6;
    tiles.push({
      side,
      runsMs: t.runsMs,
      medianMs: t.medianMs,
      kpxPerS: px / t.medianMs,
      gflops,
      cpuShare: t.cpuShare,
      attempts: t.attempts,
    });
    progress(
      `${model.id} tile ${side}: ${fmt(t.medianMs)} ms (median of ${t.runsMs.length}), ${fmt(px / t.medianMs)} kpx/s, ${fmt(gflops)} GFLOP/s`,
    );
  }
  await session.release();
  return {
    id: model.id,
    source: model.source,
    params: stats.params,
    flopsPerInputPixel: stats.flopsPerInputPixel,
    importMs,
    sessionMs,
    tiles,
  };
}

/** Pick the fastest TF.js backend on a small tile, then time 1 and `cores` instances. */
async function benchPeer(flags: Flags, model: BenchModel, flopsPerInputPixel: number): Promise<PeerResult> {
  const dir = tfjsModelDir('thick', 4);
  const probeSide = 16;
  const probes: PeerResult['probes'] = [];
  for (const backend of ['wasm', 'cpu'] as const) {
    try {
      const peer = await TfjsPeer.start(backend, dir, 1);
      const t = await timeRuns(() => peer.round(probeSide), {
        warmups: 1,
        minRuns: 1,
        maxRuns: 1,
        budgetMs: 0,
      });
      await peer.close();
      probes.push({ backend, kpxPerS: probeSide ** 2 / t.medianMs });
      progress(`TF.js ${backend}: ${fmt(probeSide ** 2 / t.medianMs)} kpx/s on a ${probeSide}² probe tile`);
    } catch (err) {
      probes.push({ backend, error: (err as Error).message });
      progress(`TF.js ${backend}: unavailable: ${(err as Error).message}`);
    }
  }
  const best = probes.filter((p) => p.kpxPerS !== undefined).sort((a, b) => b.kpxPerS! - a.kpxPerS!)[0];
  if (!best) return { probes, rows: [], error: 'no TF.js backend works' };
  const rows: PeerRow[] = [];
  let info: PeerInfo | undefined;
  let agreement: Difference | undefined;
  const policy: TimingPolicy = { ...flags.policy, maxRuns: Math.min(flags.policy.maxRuns, 5) };
  for (const instances of [...new Set([1, cores()])]) {
    const peer = await TfjsPeer.start(best.backend, dir, instances);
    info ??= peer.info;
    agreement ??= await crossCheck(peer, model);
    for (const side of flags.peerTiles) {
      const t = await timeSettled(() => peer.round(side), policy, settle(instances / cores()));
      const px = side * side * instances;
      rows.push({
        instances,
        side,
        medianMs: t.medianMs,
        kpxPerS: px / t.medianMs,
        gflops: (flopsPerInputPixel * px) / t.medianMs / 1e6,
        cpuShare: t.cpuShare,
        attempts: t.attempts,
      });
      progress(`TF.js ${best.backend} ×${instances} tile ${side}: ${fmt(px / t.medianMs)} kpx/s`);
    }
    await peer.close();
  }
  return { info, probes, rows, agreement };
}

const CHECK_SIDE = 32;

/** Both runtimes on the same tile must compute the same network: PSNR of TF.js vs ONNX output. */
async function crossCheck(peer: TfjsPeer, model: BenchModel): Promise<Difference> {
  const { onnx, stats } = await model.load();
  const session = await createSession(onnx);
  const out = await runOutput(session, feed(syntheticImage(CHECK_SIDE, 1), stats.inputChannels, CHECK_SIDE));
  await session.release();
  const tf = await peer.output(CHECK_SIDE);
  return compare(toNhwc(out, CHECK_SIDE * stats.scale, stats.outputChannels), tf);
}

function targets(models: readonly ModelResult[], peer: PeerResult | undefined): Target[] {
  const tilesOf = (id: string) => {
    const m = models.find((r) => r.id === id);
    return m && 'tiles' in m ? m.tiles : undefined;
  };

  const peakDetails: string[] = [];
  let peakStatus: Target['status'] = 'PASS';
  for (const id of PEAK_MODELS) {
    const tiles = tilesOf(id)?.filter((t) => t.side >= 128) ?? [];
    if (tiles.length === 0) {
      peakDetails.push(`${id}: not measured at tile ≥128`);
      if (peakStatus === 'PASS') peakStatus = 'N/A';
    }
    for (const t of tiles) {
      const ok = t.ofPeak >= TARGET_OF_PEAK;
      if (!ok) peakStatus = 'FAIL';
      peakDetails.push(
        `${id} @${t.side}: ${fmt(t.gflops)} GFLOP/s = ${pct(t.ofPeak)} of peak ${ok ? '✓' : '✗'}`,
      );
    }
  }

  const speedDetails: string[] = [];
  let speedStatus: Target['status'] = 'N/A';
  const onnxTiles = tilesOf(PEER_MODEL);
  if (!onnxTiles) speedDetails.push(`${PEER_MODEL} not measured`);
  else if (!peer) speedDetails.push('peer not run (--no-peer)');
  else if (peer.rows.length === 0) speedDetails.push(peer.error ?? 'peer gave no result');
  else {
    for (const side of new Set(peer.rows.map((r) => r.side))) {
      const onnx = onnxTiles.find((t) => t.side === side);
      // The peer's best configuration at this tile (1 instance or one per core).
      const tf = peer.rows.filter((r) => r.side === side).sort((a, b) => b.kpxPerS - a.kpxPerS)[0];
      if (!onnx || !tf) continue;
      const ratio = onnx.kpxPerS / tf.kpxPerS;
      const ok = ratio >= TARGET_PEER_SPEEDUP;
      speedStatus = speedStatus === 'FAIL' || !ok ? 'FAIL' : 'PASS';
      speedDetails.push(
        `tile ${side}: ONNX ${fmt(onnx.kpxPerS)} kpx/s vs TF.js ${peer.info?.backend ?? ''} ×${tf.instances} ${fmt(tf.kpxPerS)} kpx/s = ${fmt(ratio)}× ${ok ? '✓' : '✗'}`,
      );
    }
    if (speedDetails.length === 0) speedDetails.push('no tile measured by both');
  }

  return [
    {
      name: `${PEAK_MODELS.join(' and ')} at tile ≥128 reach ≥${TARGET_OF_PEAK * 100}% of peak`,
      status: peakStatus,
      details: peakDetails,
    },
    {
      name: `${PEER_MODEL} ≥${TARGET_PEER_SPEEDUP}× faster than TF.js`,
      status: speedStatus,
      details: speedDetails,
    },
  ];
}

function report(
  machine: Record<string, string | number>,
  peaks: { start: PeakResult[]; end: PeakResult[]; gflops: number },
  models: readonly ModelResult[],
  peer: PeerResult | undefined,
  goals: readonly Target[],
): string {
  const out: string[] = [];
  out.push('Pixelift model benchmark', '');
  for (const [k, v] of Object.entries(machine)) out.push(`  ${k.padEnd(16)} ${v}`);
  out.push('', `Machine peak: stacks of 3×3 Conv 64→64 + bias (median per shape; best shape counts)`);
  out.push(
    formatTable(
      ['when', 'activation', 'depth', 'ms', 'GFLOP/s', 'cpu', 'tries'],
      [
        ...(['start', 'end'] as const).flatMap((when) =>
          peaks[when].map((p) => [
            when,
            `64×${p.side}×${p.side}`,
            p.depth,
            fmt(p.medianMs),
            fmt(p.gflops),
            pct(p.cpuShare),
            p.attempts,
          ]),
        ),
      ],
    ),
  );
  out.push(`  peak = ${fmt(peaks.gflops)} GFLOP/s`, '');

  out.push('Models (input tile side; kpx/s of input; medians)');
  const rows: Cell[][] = [];
  for (const m of models) {
    if ('error' in m) {
      rows.push([m.id, '–', '–', '–', '–', '–', '–', '–', '–', '–', `not available: ${m.error}`]);
      continue;
    }
    for (const t of m.tiles) {
      rows.push([
        m.id,
        fmt(m.flopsPerInputPixel / 1e6),
        t.side,
        t.runsMs.length,
        fmt(t.medianMs),
        fmt(t.kpxPerS),
        fmt(t.gflops),
        pct(t.ofPeak),
        pct(t.cpuShare),
        t.attempts,
        '',
      ]);
    }
  }
  out.push(
    formatTable(
      ['model', 'MFLOP/px', 'tile', 'runs', 'ms', 'kpx/s', 'GFLOP/s', 'of peak', 'cpu', 'tries', ''],
      rows,
    ),
  );
  out.push('');

  if (peer) {
    out.push(`Peer: RRDN-thick ×4 in TF.js ${peer.info ? describePeer(peer.info) : ''}`);
    out.push(
      '  instances = independent TF.js instances in worker threads, each running its own tile (the',
      '  wasm backend has no threads in Node); kpx/s counts all their pixels per round.',
    );
    if (peer.agreement) {
      const a = peer.agreement;
      out.push(
        `  same network? TF.js vs ONNX output on a ${CHECK_SIDE}² tile: PSNR ${Number.isFinite(a.psnr) ? `${a.psnr.toFixed(1)} dB` : 'identical'}, max |Δ| ${a.maxAbs.toExponential(1)}`,
      );
    }
    for (const p of peer.probes) {
      out.push(
        `  backend ${p.backend}: ${p.kpxPerS !== undefined ? `${fmt(p.kpxPerS)} kpx/s (16² probe)` : `unavailable: ${p.error}`}`,
      );
    }
    const onnx = models.find((m) => m.id === PEER_MODEL);
    const onnxTiles = onnx && 'tiles' in onnx ? onnx.tiles : [];
    out.push(
      formatTable(
        ['instances', 'tile', 'ms/round', 'kpx/s', 'GFLOP/s', 'cpu', 'tries', 'ONNX kpx/s', 'ONNX ÷ TF.js'],
        peer.rows.map((r) => {
          const o = onnxTiles.find((t) => t.side === r.side);
          return [
            r.instances,
            r.side,
            fmt(r.medianMs),
            fmt(r.kpxPerS),
            fmt(r.gflops),
            pct(r.cpuShare),
            r.attempts,
            o ? fmt(o.kpxPerS) : '–',
            o ? `${fmt(o.kpxPerS / r.kpxPerS)}×` : '–',
          ];
        }),
      ),
    );
    if (peer.error) out.push(`  ${peer.error}`);
    out.push('');
  }

  out.push('Summary');
  for (const g of goals) {
    out.push(`  [${g.status}] ${g.name}`);
    for (const d of g.details) out.push(`         ${d}`);
  }
  const shares = [
    ...peaks.start,
    ...peaks.end,
    ...models.flatMap((m) => ('tiles' in m ? m.tiles : [])),
    ...(peer?.rows.filter((r) => r.instances >= cores()) ?? []),
  ].map((r) => r.cpuShare);
  const least = Math.min(...shares);
  out.push('', `  load average ${machine['load (1 min)']} at start, ${loadAverage().toFixed(2)} at end.`);
  out.push('  "cpu" = CPU time the process got ÷ (wall × cores); one single-threaded TF.js instance can');
  out.push(`  reach only ${pct(1 / cores())}.`);
  if (least < CONTENDED) {
    out.push(
      `  WARNING: another process competed for the CPU (cpu as low as ${pct(least)}): absolute figures`,
      '  are low and ratios noisy; re-run on an idle machine for acceptance numbers.',
    );
  }
  return out.join('\n');
}

const pct = (v: number) => `${(v * 100).toFixed(0)}%`;

const describePeer = (i: PeerInfo) =>
  `(backend ${i.backend}${i.backend === 'wasm' ? `, SIMD ${i.simd ? 'on' : 'off'}, wasm multithread ${i.multithread ? 'yes' : 'no'}` : ''}, ${i.threads} thread per instance)`;

async function main(): Promise<void> {
  let flags: Flags;
  try {
    flags = parseFlags();
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const options = defaultSessionOptions();
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: cores(),
    node: process.version,
    'onnxruntime-node': ort.env.versions.node ?? 'unknown',
    session: `intraOpNumThreads ${options.intraOpNumThreads}, interOp ${options.interOpNumThreads}, ${options.executionMode}, graphOptimizationLevel '${options.graphOptimizationLevel}'`,
    'load (1 min)': loadAverage().toFixed(2),
  };
  progress('measuring conv peak…');
  const start = await measurePeak();
  const startBest = Math.max(...start.map((p) => p.gflops));
  progress(`peak ${fmt(startBest)} GFLOP/s`);

  const measured: ModelMeasurement<MeasuredTile>[] = [];
  for (const m of flags.models) measured.push(await benchModel(m, flags));

  let peer: PeerResult | undefined;
  const thick = measured.find((m) => m.id === PEER_MODEL);
  if (flags.peer && thick) {
    peer =
      'error' in thick
        ? { probes: [], rows: [], error: `ONNX ${PEER_MODEL} not available, peer skipped` }
        : await benchPeer(flags, flags.models.find((m) => m.id === PEER_MODEL)!, thick.flopsPerInputPixel);
  }

  progress('measuring conv peak again…');
  const end = await measurePeak();
  const gflops = Math.max(startBest, ...end.map((p) => p.gflops));
  const models: ModelResult[] = measured.map((m) =>
    'tiles' in m ? { ...m, tiles: m.tiles.map((t) => ({ ...t, ofPeak: t.gflops / gflops })) } : m,
  );
  const goals = targets(models, peer);
  const peaks = { start, end, gflops };
  if (flags.json) {
    process.stdout.write(
      `${JSON.stringify({ machine, peak: peaks, models, peer, targets: goals, loadAtEnd: loadAverage() }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(`${report(machine, peaks, models, peer, goals)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});

/**
 * bench/segment-probe — where the exact path's time and memory go, per segment session:
 * every segment of a model's cut runs square windows of the given sides, in a session opened
 * (the graphs CPU sessions run, PRelu split: session.ts graphFor) with or without
 * onnxruntime's CPU arena; prints CPU ms per run (user+sys, steadier than wall
 * time on a shared machine), the first run's peak RSS over the RSS before it (VmHWM reset
 * through /proc/self/clear_refs) and the RSS the session keeps after it.
 *
 *   node --expose-gc dist/bench/segment-probe.js --model=realesrgan-x4fast --grain=fine \
 *        --sides=128,256,512 [--arena=false] [--whole]
 */
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { graphFor } from '../src/models/session.js';
import type { SegmentGrain } from '../src/models/store.js';
import { cpuMs, gc, PROBE_OPTIONS, probeStore, resetPeak, procStatus as status } from './lib/probe.js';

const { values: args } = parseArgs({
  options: {
    model: PROBE_OPTIONS.model,
    grain: { type: 'string', default: 'fine' },
    sides: { type: 'string', default: '128,256,512' },
    runs: { type: 'string', default: '2' },
    arena: { type: 'string', default: 'true' },
    whole: { type: 'boolean', default: false },
    cache: PROBE_OPTIONS.cache,
  },
});

const MB = 2 ** 20;

const store = probeStore(args.cache);
const options: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: os.availableParallelism(),
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
  enableMemPattern: false,
  enableCpuMemArena: args.arena === 'true',
};
const sides = args.sides!.split(',').map(Number);
console.log(
  `${args.model} ${args.whole ? 'whole' : args.grain} arena=${args.arena}; load ${os.loadavg()[0]!.toFixed(2)}; rss at start ${(status('VmRSS') / MB).toFixed(0)} MB`,
);
const prep = await store.prepare(args.model!);
const plans = await store.segmentPlans(args.model!, 4);
const graphs = args.whole
  ? [
      {
        onnx: graphFor('cpu', fs.readFileSync(prep.onnxPath)),
        inputs: [{ name: 'input', channels: 3 }],
        liveChannels: 0,
      },
    ]
  : plans![args.grain as SegmentGrain].segments;
const sessions = [];
for (const g of graphs) sessions.push(await ort.InferenceSession.create(g.onnx, options));
gc();
console.log(`${graphs.length} sessions; rss ${(status('VmRSS') / MB).toFixed(0)} MB`);
for (const side of sides) {
  let total = 0;
  for (const [i, g] of graphs.entries()) {
    const session = sessions[i]!;
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of g.inputs.entries()) {
      const name = args.whole ? session.inputNames[0]! : t.name;
      feeds[name] = new ort.Tensor(
        'float32',
        new Float32Array(t.channels * side * side).map((_, j) => ((j * 7 + k) % 251) / 251),
        [1, t.channels, side, side],
      );
    }
    gc();
    const before = status('VmRSS');
    resetPeak();
    await session.run(feeds); // results are dropped at once, as the engine does
    const peak = status('VmHWM') - before;
    let best = Number.POSITIVE_INFINITY;
    for (let k = 0; k < Number(args.runs); k++) {
      const c = cpuMs();
      await session.run(feeds);
      best = Math.min(best, cpuMs() - c);
    }
    gc();
    total += best;
    console.log(
      `  ${args.whole ? 'whole' : `seg ${i}`} ${side}: ${best.toFixed(0)} cpu ms, first-run peak +${(peak / MB).toFixed(0)} MB (${(peak / (side * side * 4 * (g.liveChannels || 1))).toFixed(2)}× live), rss kept +${((status('VmRSS') - before) / MB).toFixed(0)} MB`,
    );
  }
  console.log(
    `side ${side}: ${total.toFixed(0)} cpu ms, ${((side * side) / total).toFixed(2)} kpx per cpu s`,
  );
}
await Promise.all(sessions.map((s) => s.release()));
await store.close();

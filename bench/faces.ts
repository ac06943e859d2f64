/**
 * `npm run bench:faces`: what face detection adds to a job. In one process, on a 1 MP photo
 * (the NASA astronaut fixture, Lanczos-enlarged to 1024×1024, one face of ~230 px):
 *   - a ×4 realesrgan-x4fast job without faces (the whole pipeline: decode → tiles → encode);
 *   - detection alone on the same decoded image (what `face.enabled` adds before the passes);
 *   - the same job with faces on and no face model (detection + the faithful re-upscale of the
 *     face region with rrdn-thick), for the whole cost of the default face pass.
 * Prints medians and detection's share of the job. Target (issue 15): detection < 5 %.
 *
 * Flags: --runs=3 (jobs), --detect-runs=7.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decode } from '../src/engine/decode.js';
import { detectFaces, loadFaceNets } from '../src/engine/faces/detect.js';
import { upscaleImage } from '../src/engine/pipeline.js';
import { silentLogger } from '../src/log.js';
import { ModelStore } from '../src/models/store.js';
import { REPO_ROOT } from './lib/bench-models.js';
import { loadAverage, median } from './lib/measure.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '3' }, 'detect-runs': { type: 'string', default: '7' } },
});
const runs = Number(values.runs);
const detectRuns = Number(values['detect-runs']);
const limits = { maxInputBytes: 2 ** 31, maxInputMegapixels: 100, maxSide: 65535, maxOutputMegapixels: 1000 };

const cache = path.join(os.tmpdir(), 'pixelift-bench-faces-cache');
fs.mkdirSync(cache, { recursive: true });
const store = new ModelStore({
  modelCacheDir: cache,
  modelsDir: path.join(cache, 'none'),
  session: { device: 'cpu', threads: os.availableParallelism(), graphOptimizationLevel: 'all' },
  log: silentLogger,
  packageRoot: REPO_ROOT,
});
const input = await sharp(path.join(REPO_ROOT, 'test/fixtures/faces/astronaut-256.png'))
  .resize(1024, 1024, { kernel: 'lanczos3' })
  .png()
  .toBuffer();
// Conversions and session starts are not what is measured.
await store.prepare('realesrgan-x4fast');
await store.prepare('rrdn-thick');
await loadFaceNets();

const decoded = await decode(input, limits);
const img = { data: decoded.rgb, width: decoded.width, height: decoded.height };
const detectMs: number[] = [];
let found = 0;
for (let i = 0; i < detectRuns; i++) {
  const t = performance.now();
  found = (await detectFaces(img)).length;
  detectMs.push(performance.now() - t);
}
const job = async (face: boolean) => {
  const t = performance.now();
  const r = await upscaleImage(store, input, {
    model: 'realesrgan-x4fast',
    scale: 4,
    limits,
    ...(face ? { face: { enabled: true } } : {}),
  });
  return { ms: performance.now() - t, faces: r.info.faces?.length };
};
const plainMs: number[] = [];
const facedMs: number[] = [];
for (let i = 0; i < runs; i++) {
  plainMs.push((await job(false)).ms);
  facedMs.push((await job(true)).ms);
}
const d = median(detectMs);
const p = median(plainMs);
const f = median(facedMs);
console.log(`machine: ${os.availableParallelism()} cores, load ${loadAverage().toFixed(2)} at the end`);
console.log(`photo: 1024x1024 (1.05 MP), ${found} face found; x4fast ×4 → 4096x4096`);
console.log(`x4fast ×4 job, no faces:           median ${(p / 1000).toFixed(2)} s  (${runs} runs)`);
console.log(`face detection alone:              median ${d.toFixed(0)} ms (${detectRuns} runs)`);
console.log(`  → detection adds ${((100 * d) / p).toFixed(1)} % of the job (target < 5 %)`);
console.log(
  `x4fast ×4 job, faces on, no face model: median ${(f / 1000).toFixed(2)} s = +${((100 * (f - p)) / p).toFixed(1)} % (detection + rrdn-thick on the face region)`,
);
await store.close();

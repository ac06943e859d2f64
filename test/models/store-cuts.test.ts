import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { upscaleImage } from '../../src/engine/pipeline.js';
import { runSegmented } from '../../src/engine/segmented.js';
import { planarSink } from '../../src/engine/tiles.js';
import type { SegmentedRunner } from '../../src/models/runner.js';
import { testStore } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

// A real network (x4fast: a coarse cut of 2 segments, a fine one of more) on a real photo.
const MODEL = 'realesrgan-x4fast';
const COARSE = `${MODEL}@4:fp32/coarse`;
const FINE = `${MODEL}@4:fp32/fine`;
const store = testStore();
after(() => store.close());

/** Runs the cut's first segment on a 16×16 window; rejects once its sessions are released. */
function runFirst(runner: SegmentedRunner): Promise<Float32Array[]> {
  const input = runner.segments[0]!.inputs.map((t) => new Float32Array(t.channels * 16 * 16).fill(0.5));
  return runner.runSegment(0, input, 16, 16);
}

test('opening one cut of a model releases the other cut that no run holds', async () => {
  const coarse = (await store.openSegmented(MODEL, 4, 'coarse'))!;
  coarse.release();
  assert.deepEqual(store.openCuts(), [{ cut: COARSE, leases: 0 }], 'an idle cut stays open for the next run');
  using fine = (await store.openSegmented(MODEL, 4, 'fine'))!;
  assert.deepEqual(store.openCuts(), [{ cut: FINE, leases: 1 }]);
  assert.ok(fine.runner.segments.length > coarse.runner.segments.length);
  await assert.rejects(runFirst(coarse.runner), 'the coarse cut’s sessions are released');
  assert.equal((await runFirst(fine.runner))[0]!.length, 64 * 16 * 16);
});

test('a cut a run holds stays open beside the new one until its lease is released', async () => {
  const fine = (await store.openSegmented(MODEL, 4, 'fine'))!;
  using coarse = (await store.openSegmented(MODEL, 4, 'coarse'))!;
  assert.deepEqual(store.openCuts(), [
    { cut: FINE, leases: 1 },
    { cut: COARSE, leases: 1 },
  ]);
  assert.equal((await runFirst(fine.runner))[0]!.length, 64 * 16 * 16, 'the held cut still runs');
  fine.release();
  fine.release(); // a second release is a no-op, not a second count
  assert.deepEqual(store.openCuts(), [{ cut: COARSE, leases: 1 }]);
  await assert.rejects(runFirst(fine.runner));
  // Opening the current cut again shares its sessions.
  using again = (await store.openSegmented(MODEL, 4, 'coarse'))!;
  assert.equal(again.runner, coarse.runner);
  assert.deepEqual(store.openCuts(), [{ cut: COARSE, leases: 2 }]);
});

test('the pipeline holds a cut only while it runs, also when the run is cancelled; one cut stays open', async () => {
  const input = await sharp(repoPath('bench/photos/rocket.jpg'))
    .extract({ left: 200, top: 100, width: 48, height: 32 })
    .png()
    .toBuffer();
  // A 1 MiB budget makes the pipeline take the fine cut. The default budget runs this crop in
  // one window with no cut at all (the whole-network session, fitsOneWindow), which leaves the
  // cut the store holds as it was. (Switching cuts is the first test's: for a crop this small
  // every budget the coarse cut fits also fits the one-window run, so the pipeline never takes it.)
  const small = await upscaleImage(store, input, { model: MODEL, memoryBudget: 2 ** 20 });
  assert.equal(small.info.tiling, 'exact');
  assert.deepEqual(store.openCuts(), [{ cut: FINE, leases: 0 }]);
  const whole = await upscaleImage(store, input, { model: MODEL });
  assert.equal(whole.info.tiling, 'exact');
  assert.deepEqual(store.openCuts(), [{ cut: FINE, leases: 0 }], 'a one-window run takes no cut');

  const ac = new AbortController();
  await assert.rejects(
    upscaleImage(
      store,
      input,
      { model: MODEL, memoryBudget: 2 ** 20 },
      { signal: ac.signal, onProgress: () => ac.abort() },
    ),
    { name: 'AbortError' },
  );
  assert.deepEqual(store.openCuts(), [{ cut: FINE, leases: 0 }], 'the cancelled run gave its lease back');
});

test('the fine cut opens one segment session at a time and holds none between runs; the coarse cut keeps its two', async () => {
  const image = { data: new Float32Array(3 * 40 * 30).fill(0.5), width: 40, height: 30 };
  const openDuring = async (grain: 'fine' | 'coarse', budget: number) => {
    using lease = (await store.openSegmented(MODEL, 4, grain))!;
    const runner = lease.runner;
    const runSegment = runner.runSegment.bind(runner);
    const seen: number[] = [];
    runner.runSegment = async (...a) => {
      const out = await runSegment(...a);
      seen.push(runner.openSessions());
      return out;
    };
    try {
      await runSegmented(image, runner, { budget, border: 16 }, planarSink(160, 120));
    } finally {
      runner.runSegment = runSegment;
    }
    return { seen, after: runner.openSessions(), segments: runner.segments.length };
  };
  const fine = await openDuring('fine', 2 ** 20);
  assert.ok(fine.seen.length > fine.segments, 'the 1 MiB budget made it tile');
  assert.deepEqual([...new Set(fine.seen)], [1], 'one session open at every window');
  assert.equal(fine.after, 0, 'none held after the run');
  const coarse = await openDuring('coarse', 2 ** 30);
  assert.equal(coarse.after, 2, 'both coarse sessions stay open for the next run');
});

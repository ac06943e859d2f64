import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { RunEstimate } from '../../src/engine/pace.js';
import { isPixeliftError } from '../../src/errors.js';
import { silentLogger } from '../../src/log.js';
import { WorkerPool } from '../../src/workers/pool.js';
import type { WorkerSettings } from '../../src/workers/protocol.js';
import { tempDir } from '../helpers/models.js';
import { repoPath } from '../helpers/paths.js';

const PHOTO = repoPath('node_modules/@upscalerjs/esrgan-slim/assets/fixture.png'); // 128x128 RGBA photo
const MODEL = 'realesrgan-x4fast';
const ROCKET = repoPath('bench/photos/rocket.jpg'); // 640x427

// One model cache for every pool here, so the model is converted once (by the first child).
const DATA = tempDir('pixelift-workers-');
const SETTINGS: WorkerSettings = {
  modelCacheDir: path.join(DATA, 'cache'),
  modelsDir: path.join(DATA, 'models'),
  device: 'cpu',
  threads: 2,
  graphOptimizationLevel: 'all',
  logLevel: 'silent',
  logFormat: 'json',
  packageRoot: repoPath(),
};

/** 256x128 in 64 px tiles: 8 tiles, ~2 s on 2 cores. */
let longInput: Buffer;
const LONG = { model: MODEL, tile: 64 } as const;
/** 48x32 in 16 px tiles: 6 tiles, a fraction of a second. */
let shortInput: Buffer;
const SHORT = { model: MODEL, tile: 16 } as const;

const pools: WorkerPool[] = [];
const spawned: number[] = [];

function newPool(size = 1): WorkerPool {
  const pool = new WorkerPool({ size, settings: SETTINGS, log: silentLogger });
  pool.on('worker-spawn', ({ pid }) => spawned.push(pid));
  pools.push(pool);
  return pool;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the job to be rejected');
}

before(async () => {
  longInput = await sharp(PHOTO).resize(256, 128, { fit: 'fill' }).png().toBuffer();
  shortInput = await sharp(PHOTO).resize(48, 32, { fit: 'fill' }).png().toBuffer();
});

after(async () => {
  await Promise.all(pools.map((p) => p.close()));
  const left = spawned.filter(alive);
  assert.deepEqual(left, [], 'no worker process outlives close()');
});

test("the parent's event loop stays responsive while a job runs (max timer gap < 50 ms)", async () => {
  const pool = newPool();
  let last = performance.now();
  let maxGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const t0 = performance.now();
  let result: Awaited<ReturnType<WorkerPool['run']>>;
  try {
    // Measure over at least 1.5 s of inference, however fast this machine is.
    do result = await pool.run({ input: longInput, options: LONG });
    while (performance.now() - t0 < 1500);
  } finally {
    clearInterval(timer);
  }
  const elapsed = performance.now() - t0;
  console.log(`event loop: max timer gap ${maxGap.toFixed(1)} ms over ${Math.round(elapsed)} ms of jobs`);
  assert.ok(maxGap < 50, `max timer gap ${maxGap.toFixed(1)} ms`);
  assert.ok(Buffer.isBuffer(result.data));
  assert.deepEqual(
    { width: result.info.output.width, height: result.info.output.height },
    { width: 1024, height: 512 },
  );
  const meta = await sharp(result.data).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 512]);
  assert.equal(result.info.model.used, MODEL);
});

test('progress events are monotonic and end at 1', async () => {
  const pool = newPool();
  const seen: number[] = [];
  const result = await pool.run({ input: shortInput, options: SHORT }, { onProgress: (f) => seen.push(f) });
  assert.equal(result.info.output.width, 192);
  assert.ok(seen.length >= 6, `one event per tile at least, got ${seen.length}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `progress went back: ${seen}`);
  assert.ok(seen[0]! > 0);
  assert.equal(seen.at(-1), 1);
});

/** THP as the kernel offers it: `always`, `madvise` or `never` (undefined off Linux). */
function thpMode(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

test(
  "a child's malloc takes huge pages (glibc.malloc.hugetlb=1 beside the parent's own GLIBC_TUNABLES)",
  // Under `never` (or off Linux) no process gets any, so there is nothing to see.
  { skip: thpMode() === 'madvise' || thpMode() === 'always' ? false : `THP is ${thpMode() ?? 'absent'}` },
  async () => {
    const before = process.env.GLIBC_TUNABLES;
    process.env.GLIBC_TUNABLES = 'glibc.malloc.arena_max=4';
    try {
      const pool = newPool();
      const pids: number[] = [];
      pool.on('worker-spawn', ({ pid }) => pids.push(pid));
      await pool.run({ input: shortInput, options: SHORT });
      // The child stays up for the next job; its anonymous memory now includes 2 MiB pages.
      const rollup = fs.readFileSync(`/proc/${pids[0]}/smaps_rollup`, 'utf8');
      const huge = Number(/AnonHugePages:\s+(\d+) kB/.exec(rollup)?.[1]);
      if (thpMode() === 'madvise') assert.ok(huge >= 2048, `AnonHugePages ${huge} kB`);
      else assert.ok(Number.isFinite(huge), rollup);
    } finally {
      if (before === undefined) delete process.env.GLIBC_TUNABLES;
      else process.env.GLIBC_TUNABLES = before;
    }
  },
);

/**
 * A pool whose budget the 640x427 photo fits in whole (fitsOneWindow): one session run of
 * several seconds, during which the child itself can say nothing.
 */
function oneWindowPool(): WorkerPool {
  const pool = new WorkerPool({
    size: 1,
    settings: { ...SETTINGS, memoryBudget: 3 * 2 ** 30 },
    log: silentLogger,
  });
  pool.on('worker-spawn', ({ pid }) => spawned.push(pid));
  pools.push(pool);
  return pool;
}

test('a photo run in one blocking window still reports strictly increasing progress below 1 before its end (x4fast, rocket.jpg)', async () => {
  const pool = oneWindowPool();
  const seen: { f: number; at: number }[] = [];
  const estimates: RunEstimate[] = [];
  const t0 = performance.now();
  const result = await pool.run(
    { input: ROCKET, options: { model: MODEL, format: 'jpeg' } },
    {
      onProgress: (f) => seen.push({ f, at: performance.now() - t0 }),
      onEstimate: (e) => estimates.push(e),
    },
  );
  assert.equal(result.info.tiling, 'exact');
  assert.deepEqual(estimates.length, 1, 'one announced run: the whole photo');
  assert.deepEqual([estimates[0]!.from, estimates[0]!.to], [0, 1]);
  const fractions = seen.map((s) => s.f);
  for (let i = 1; i < fractions.length; i++)
    assert.ok(fractions[i]! > fractions[i - 1]!, `progress must strictly increase: ${fractions}`);
  const before = fractions.filter((f) => f < 1);
  assert.ok(before.length >= 4, `${before.length} values below 1 before the end: ${fractions}`);
  assert.equal(fractions.at(-1), 1);
  // Spread over the run, not bunched at its end.
  const span = seen.at(-2)!.at - seen[0]!.at;
  assert.ok(span >= 750, `estimated progress spans ${Math.round(span)} ms`);
});

test('a job whose signal is already aborted is rejected without forking a child', async () => {
  const pool = newPool();
  const err = await rejection(
    pool.run({ input: shortInput, options: SHORT }, { signal: AbortSignal.abort() }),
  );
  assert.ok(isPixeliftError(err, 'canceled'), String(err));
  assert.deepEqual(pool.stats().pids, []);
});

test('cancel via AbortSignal stops the worker within 1 s', async () => {
  const pool = newPool();
  const controller = new AbortController();
  let pid = 0;
  let abortedAt = 0;
  const job = pool.run(
    { input: longInput, options: LONG },
    {
      signal: controller.signal,
      onStart: (w) => {
        pid = w.pid;
      },
      onProgress: () => {
        // After the first tile the child is inside session.run() for the next one.
        if (abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    },
  );
  const err = await rejection(job);
  const latency = performance.now() - abortedAt;
  console.log(`cancel: rejected ${latency.toFixed(1)} ms after abort()`);
  assert.ok(isPixeliftError(err, 'canceled'), String(err));
  assert.ok(latency < 1000, `rejected ${latency} ms after abort`);
  assert.ok(pid > 0);
  assert.equal(alive(pid), false, 'the child running the job is gone');

  let second = 0;
  const next = await pool.run(
    { input: shortInput, options: SHORT },
    {
      onStart: (w) => {
        second = w.pid;
      },
    },
  );
  assert.equal(next.info.output.width, 192);
  assert.notEqual(second, pid, 'a new child ran the next job');
});

test('cancel during an estimated one-window run rejects within 1 s, and no progress is reported after it', async () => {
  const pool = oneWindowPool();
  const controller = new AbortController();
  let abortedAt = 0;
  let after = 0;
  let rejected = false;
  const job = pool.run(
    { input: ROCKET, options: { model: MODEL, format: 'jpeg' } },
    {
      signal: controller.signal,
      onProgress: () => {
        if (rejected) after++;
        // The first value is estimated: the child is inside session.run().
        if (abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    },
  );
  const err = await rejection(job);
  rejected = true;
  const latency = performance.now() - abortedAt;
  assert.ok(isPixeliftError(err, 'canceled'), String(err));
  assert.ok(latency < 1000, `rejected ${latency} ms after abort`);
  await new Promise((r) => setTimeout(r, 800)); // three ticks of the estimate's timer
  assert.equal(after, 0, 'progress after the job was canceled');
});

test('a worker killed with SIGKILL is replaced and its job fails with a retryable code', async () => {
  const pool = newPool();
  const exits: { pid: number; cause: string }[] = [];
  pool.on('worker-exit', (e) => exits.push(e));
  let pid = 0;
  const job = pool.run(
    { input: longInput, options: LONG },
    {
      onStart: (w) => {
        pid = w.pid;
      },
      onProgress: () => {
        if (alive(pid)) process.kill(pid, 'SIGKILL'); // from outside, as the OOM killer would
      },
    },
  );
  const err = await rejection(job);
  assert.ok(isPixeliftError(err, 'worker_crashed'), String(err));
  assert.equal(err.retryable, true);
  assert.equal(err.details.reason, 'signal SIGKILL');
  assert.deepEqual(exits, [{ pid, code: null, signal: 'SIGKILL', cause: 'crashed', jobId: 1 }]);

  const next = await pool.run({ input: shortInput, options: SHORT });
  assert.equal(next.info.output.width, 192);
  assert.equal(pool.stats().pids.length, 1);
  const replacement = pool.stats().pids[0]!;
  assert.notEqual(replacement, pid);

  // An idle child that dies costs no job; the next job gets a fresh one. (Idle children do not
  // keep the process alive, so a timer holds it open while we wait for the exit.)
  const hold = setInterval(() => undefined, 1000);
  const exited = new Promise((resolve) => pool.once('worker-exit', resolve));
  process.kill(replacement, 'SIGKILL');
  const exit = await exited;
  clearInterval(hold);
  assert.deepEqual(exit, {
    pid: replacement,
    code: null,
    signal: 'SIGKILL',
    cause: 'crashed',
    jobId: undefined,
  });
  assert.deepEqual(pool.stats().pids, []);
  assert.equal((await pool.run({ input: shortInput, options: SHORT })).info.output.width, 192);
});

test('a child that does not say ready within spawnTimeoutMs is killed and its job fails with worker_crashed', async () => {
  const pool = new WorkerPool({ size: 1, settings: SETTINGS, log: silentLogger, spawnTimeoutMs: 1 });
  pools.push(pool);
  let pid = 0;
  pool.on('worker-spawn', (w) => {
    pid = w.pid;
    spawned.push(w.pid);
  });
  const err = await rejection(pool.run({ input: shortInput, options: SHORT }));
  assert.ok(isPixeliftError(err, 'worker_crashed'), String(err));
  assert.equal(err.details.reason, 'it did not start within 1 ms');
  assert.equal(alive(pid), false);
});

test('two jobs on a pool of size 1 run one after the other; aborting a queued job leaves the running one alone', async () => {
  const pool = newPool(1);
  const events: string[] = [];
  const pids = new Set<number>();
  const hooks = (name: string, signal?: AbortSignal) => ({
    signal,
    onStart: (w: { pid: number }) => {
      pids.add(w.pid);
      events.push(`${name} start`);
    },
    onProgress: (f: number) => {
      if (f === 1) events.push(`${name} inferred`);
    },
  });
  const first = pool.run({ input: shortInput, options: SHORT }, hooks('first'));
  const second = pool.run({ input: shortInput, options: SHORT }, hooks('second'));
  const controller = new AbortController();
  const third = pool.run({ input: shortInput, options: SHORT }, hooks('third', controller.signal));
  assert.deepEqual(
    { starting: pool.stats().starting, queued: pool.stats().queued },
    { starting: 1, queued: 2 },
  );

  controller.abort();
  const err = await rejection(third);
  assert.ok(isPixeliftError(err, 'canceled'), String(err));
  assert.equal(pool.stats().queued, 1);

  const [a, b] = await Promise.all([first, second]);
  assert.equal(a.info.output.width, 192);
  assert.equal(b.info.output.width, 192);
  assert.deepEqual(events, ['first start', 'first inferred', 'second start', 'second inferred']);
  assert.equal(pids.size, 1, 'one child ran both, its sessions kept warm');
});

test('errors from the engine come back with their own code, and the child stays up', async () => {
  const pool = newPool();
  const unknown = await rejection(pool.run({ input: shortInput, options: { model: 'no-such-model' } }));
  assert.ok(isPixeliftError(unknown, 'model_not_found'), String(unknown));
  assert.equal(unknown.retryable, false);
  assert.equal(unknown.message, 'Unknown model "no-such-model"');

  const pid = pool.stats().pids[0];
  const unreadable = await rejection(
    pool.run({ input: Buffer.from('not an image'), options: { model: MODEL } }),
  );
  assert.ok(isPixeliftError(unreadable, 'image_unreadable'), String(unreadable));
  const missing = await rejection(
    pool.run({ input: path.join(DATA, 'missing.png'), options: { model: MODEL } }),
  );
  assert.ok(isPixeliftError(missing, 'image_unreadable'), String(missing));
  assert.deepEqual(pool.stats().pids, [pid]);
  assert.equal(pool.stats().idle, 1);
});

test('settings.precision (PIXELIFT_PRECISION) is what a run without a precision runs in; a run may name its own; precision_unsupported crosses back with its code', async () => {
  const pool = new WorkerPool({ size: 1, settings: { ...SETTINGS, precision: 'int8' }, log: silentLogger });
  pool.on('worker-spawn', ({ pid }) => spawned.push(pid));
  pools.push(pool);
  const byDefault = await pool.run({ input: shortInput, options: SHORT });
  assert.equal(byDefault.info.precision, 'int8');
  const own = await pool.run({ input: shortInput, options: { ...SHORT, precision: 'fp32' } });
  assert.equal(own.info.precision, 'fp32');
  assert.notDeepEqual(own.data, byDefault.data);
  // A default of int8 runs a classical resampler as it is; asking for int8 explicitly is refused.
  const classical = await pool.run({ input: shortInput, options: { model: 'bicubic' } });
  assert.equal(classical.info.precision, 'fp32');
  const refused = await rejection(
    pool.run({ input: shortInput, options: { model: 'bicubic', precision: 'int8' } }),
  );
  assert.ok(isPixeliftError(refused, 'precision_unsupported'), String(refused));
  assert.equal(refused.retryable, false);
});

test('close() kills every child and rejects running and queued jobs with canceled', async () => {
  const pool = newPool(1);
  let pid = 0;
  let resolve!: () => void;
  const started = new Promise<void>((r) => {
    resolve = r;
  });
  const running = pool.run(
    { input: longInput, options: LONG },
    {
      onStart: (w) => {
        pid = w.pid;
        resolve();
      },
    },
  );
  const queued = pool.run({ input: shortInput, options: SHORT });
  const errors = Promise.all([running, queued].map(rejection));
  await started;
  await pool.close();
  for (const err of await errors) assert.ok(isPixeliftError(err, 'canceled'), String(err));
  assert.ok(pid > 0);
  assert.equal(alive(pid), false);
  assert.deepEqual(pool.stats().pids, []);
  const late = await rejection(pool.run({ input: shortInput, options: SHORT }));
  assert.ok(isPixeliftError(late, 'canceled'), String(late));
});

test('BAD CALL - a pool of size 0 or a fractional priority is refused when constructed', () => {
  for (const bad of [
    { size: 0 },
    { size: 1.5 },
    { size: 1, priority: 2.5 },
    { size: 1, spawnTimeoutMs: 0 },
  ]) {
    assert.throws(
      () => new WorkerPool({ settings: SETTINGS, log: silentLogger, ...bad }),
      (err: unknown) => isPixeliftError(err, 'invalid_argument'),
      JSON.stringify(bad),
    );
  }
});

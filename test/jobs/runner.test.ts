/**
 * The runner's retry rule, from the error registry: a run that fails with a retryable error goes
 * back to the queue while attempts are left; a non-retryable one fails the job at once. Real
 * SQLite stores, event log and blob store; the worker pool is scripted, since the point is what
 * the runner does with each error a run can end with.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS } from '../../src/config.js';
import type { UpscaleResult } from '../../src/engine/pipeline.js';
import { ERRORS, PixeliftError } from '../../src/errors.js';
import { JobEvents } from '../../src/jobs/events.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { openSqliteStores } from '../../src/jobs/sqlite/index.js';
import type { Job } from '../../src/jobs/types.js';
import { silentLogger } from '../../src/log.js';
import { FsBlobStore } from '../../src/storage/fs-store.js';
import { tempDir } from '../helpers/models.js';
import { makeJob } from './fixtures.js';

const RESULT: UpscaleResult = {
  data: Buffer.from('png bytes'),
  info: {
    output: { width: 256, height: 256, format: 'png', bitDepth: 8, bytes: 9 },
    warnings: [],
    timings: { decodeMs: 1, inferMs: 2, encodeMs: 3 },
  },
} as unknown as UpscaleResult;

/** Runs one job to its end on a pool whose runs end as `outcomes` say, in order. */
async function runWith(
  outcomes: readonly (Error | 'ok')[],
  maxAttempts = 3,
): Promise<{ job: Job; runs: number }> {
  const stores = openSqliteStores(':memory:');
  const blobs = new FsBlobStore(tempDir('pixelift-runner-'));
  const events = new JobEvents({
    jobs: stores.jobs,
    kickWebhooks: () => undefined,
    logger: silentLogger,
    formatters: {},
  });
  let runs = 0;
  const runner = new JobRunner({
    jobs: stores.jobs,
    blobs,
    events,
    pool: {
      run: async () => {
        const outcome = outcomes[runs++] ?? 'ok';
        if (outcome === 'ok') return RESULT;
        throw outcome;
      },
    },
    concurrency: 1,
    maxRunningPerKey: 1,
    maxAttempts,
    limits: DEFAULTS.limits,
    tile: undefined,
    putResult: async () => undefined,
    log: silentLogger,
    pollMs: 10,
  });
  const job = makeJob();
  await blobs.put(job.request.inputBlob, Buffer.from('input'));
  await stores.jobs.create(job);
  const ended = events.waitFor(job.id, (e) => e.type === 'completed' || e.type === 'failed', 10_000);
  await runner.start();
  assert.ok(await ended, 'the job ended');
  await runner.stop(1000);
  const stored = (await stores.jobs.get(job.id))!;
  stores.close();
  return { job: stored, runs };
}

test('the registry marks the errors this test relies on', () => {
  assert.deepEqual(
    [ERRORS.inference_failed.retryable, ERRORS.upload_failed.retryable, ERRORS.image_unreadable.retryable],
    [true, true, false],
  );
});

test('a run that fails with a retryable error other than worker_crashed runs again and can succeed', async () => {
  const { job, runs } = await runWith([new PixeliftError('inference_failed', { message: 'CUDA hiccup' })]);
  assert.deepEqual([job.status, job.attempts, runs, job.error], ['succeeded', 2, 2, null]);
});

test('a retryable error on every run fails the job with that error once the attempts are used', async () => {
  const upload = new PixeliftError('upload_failed', { url: 'https://up.example/x', reason: 'HTTP 503' });
  const { job, runs } = await runWith([upload, upload, upload], 3);
  assert.deepEqual([job.status, job.attempts, runs, job.error?.code], ['failed', 3, 3, 'upload_failed']);
});

test('a worker crash on the last attempt fails the job with attempts_exhausted', async () => {
  const crash = new PixeliftError('worker_crashed', { reason: 'SIGKILL' });
  const { job, runs } = await runWith([crash, crash], 2);
  assert.deepEqual([job.status, job.attempts, runs, job.error?.code], ['failed', 2, 2, 'attempts_exhausted']);
});

test('a run that fails with a non-retryable error fails the job at once, attempts left or not', async () => {
  const { job, runs } = await runWith([
    new PixeliftError('image_unreadable', { file: 'input', reason: 'truncated' }),
  ]);
  assert.deepEqual([job.status, job.attempts, runs, job.error?.code], ['failed', 1, 1, 'image_unreadable']);
});

test('a plain Error counts as internal, which the registry marks retryable', async () => {
  const { job, runs } = await runWith([new TypeError('bug')]);
  assert.deepEqual([job.status, job.attempts, runs], ['succeeded', 2, 2]);
});

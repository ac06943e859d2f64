import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PixeliftError } from '../../../src/errors.js';
import { at, makeJob, RESULT, T0 } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function jobStoreLifecycleContract(backend: StoreBackend): void {
  test('recover requeues running jobs until maxAttempts, then fails them with attempts_exhausted', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_1' }));
    await s.jobs.create(makeJob({ id: 'job_idle' }));
    const claim = async () => (await s.jobs.claim({ maxRunningPerKey: 1, now: T0 }))?.job;

    await claim();
    await s.jobs.update('job_1', { progress: 0.7 });
    const first = await s.jobs.recover({ maxAttempts: 2, now: at(1000) });
    assert.deepEqual(
      first.requeued.map((j) => [j.id, j.status, j.attempts, j.progress, j.startedAt]),
      [['job_1', 'queued', 1, 0, null]],
    );
    assert.deepEqual(first.failed, []);

    assert.equal((await claim())?.attempts, 2);
    const second = await s.jobs.recover({ maxAttempts: 2, now: at(2000) });
    assert.deepEqual(second.requeued, []);
    const [failed] = second.failed.map((f) => f.job);
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.finishedAt, at(2000).toISOString());
    assert.deepEqual(failed?.error, {
      code: 'attempts_exhausted',
      message: new PixeliftError('attempts_exhausted', { attempts: 2 }).message,
    });
    assert.deepEqual(await s.jobs.get('job_1'), failed);
    assert.equal((await s.jobs.get('job_idle'))?.status, 'queued', 'queued jobs are not touched');
  });

  test('requeue after a graceful stop gives the attempt back, fenced on the attempt it was on', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_1' }));
    await s.jobs.claim({ maxRunningPerKey: 1, now: T0 });
    assert.equal(await s.jobs.requeue('job_1', { attempts: 2 }), undefined, 'another attempt');
    const back = await s.jobs.requeue('job_1', { attempts: 1 });
    assert.deepEqual([back?.status, back?.attempts, back?.startedAt], ['queued', 0, null]);
    assert.equal(await s.jobs.requeue('job_1', { attempts: 0 }), undefined, 'not running any more');
    assert.equal((await s.jobs.claim({ maxRunningPerKey: 1, now: T0 }))?.job.attempts, 1);
  });

  test('expire turns succeeded jobs past expiresAt into expired and returns them with their result', async () => {
    const s = await backend.fresh();
    const ends = at(60_000).toISOString();
    await s.jobs.create(makeJob({ id: 'job_1', status: 'succeeded', result: RESULT, expiresAt: ends }));
    await s.jobs.create(
      makeJob({ id: 'job_later', status: 'succeeded', result: RESULT, expiresAt: at(120_000).toISOString() }),
    );
    await s.jobs.create(makeJob({ id: 'job_failed', status: 'failed', expiresAt: ends }));
    await s.jobs.create(makeJob({ id: 'job_canceled', status: 'canceled', expiresAt: ends }));

    assert.deepEqual(await s.jobs.expire(at(59_999)), []);
    const expired = await s.jobs.expire(at(60_000));
    assert.deepEqual(
      expired.map(({ before: j }) => [j.id, j.status, j.result?.blobKey]),
      [['job_1', 'succeeded', 'results/job_1.png']],
    );
    const stored = await s.jobs.get('job_1');
    assert.deepEqual([stored?.status, stored?.result], ['expired', null]);
    assert.equal((await s.jobs.get('job_failed'))?.status, 'failed');
    assert.equal((await s.jobs.get('job_canceled'))?.status, 'canceled');
    assert.deepEqual(await s.jobs.expire(at(60_000)), [], 'an expired job is not returned twice');
  });

  test('delete removes the job with its events and deliveries, and leaves other jobs alone', async () => {
    const s = await backend.fresh();
    const gone = (await s.jobs.create(makeJob())).job;
    const kept = (await s.jobs.create(makeJob())).job;
    // Each has its `queued` event from create.
    for (const job of [gone, kept]) {
      await s.outbox.enqueue({
        jobId: job.id,
        eventType: 'completed',
        url: 'https://hooks.example/',
        messageId: `msg_${job.id}`,
        payload: '{}',
        scheme: 'standard',
        now: T0,
      });
    }
    assert.deepEqual(await s.jobs.delete(gone.id), gone);
    assert.equal(await s.jobs.get(gone.id), undefined);
    assert.deepEqual(await s.events.since({ afterId: 0, jobId: gone.id }), []);
    assert.deepEqual(await s.outbox.list(gone.id), []);
    assert.equal((await s.events.since({ afterId: 0 })).length, 1);
    assert.equal((await s.outbox.list(kept.id)).length, 1);
    assert.equal(await s.jobs.delete(gone.id), undefined);
  });

  test('counts has every status, zero where no job is', async () => {
    const s = await backend.fresh();
    assert.deepEqual(await s.jobs.counts(), {
      queued: 0,
      running: 0,
      succeeded: 0,
      failed: 0,
      canceled: 0,
      expired: 0,
    });
    await s.jobs.create(makeJob());
    await s.jobs.create(makeJob());
    await s.jobs.claim({ maxRunningPerKey: 1, now: T0 });
    const counts = await s.jobs.counts();
    assert.deepEqual([counts.queued, counts.running, counts.failed], [1, 1, 0]);
  });
}

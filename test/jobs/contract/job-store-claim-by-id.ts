import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at, makeJob, T0 } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

const OPTIONS = { maxRunningPerKey: 5, maxAttempts: 3, now: at(1000) };

export function jobStoreClaimByIdContract(backend: StoreBackend): void {
  test('claimById runs the named queued job, not the oldest one', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_old' }));
    await s.jobs.create(makeJob({ id: 'job_new' }));
    const outcome = await s.jobs.claimById('job_new', OPTIONS);
    assert.equal(outcome.kind, 'claimed');
    assert.ok(outcome.kind === 'claimed');
    assert.equal(outcome.takeover, false);
    assert.deepEqual(
      [outcome.job.id, outcome.job.status, outcome.job.attempts, outcome.job.startedAt],
      ['job_new', 'running', 1, at(1000).toISOString()],
    );
    assert.equal((await s.jobs.get('job_old'))?.status, 'queued');
    assert.deepEqual(await s.jobs.get('job_new'), outcome.job);
  });

  test('claimById answers capped while the key runs its cap, and leaves the job queued', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'a1', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'a2', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'b1', keyId: 'key_b' }));
    const cap1 = { ...OPTIONS, maxRunningPerKey: 1 };
    assert.equal((await s.jobs.claimById('a1', cap1)).kind, 'claimed');
    assert.deepEqual(await s.jobs.claimById('a2', cap1), { kind: 'capped' });
    assert.equal((await s.jobs.get('a2'))?.status, 'queued');
    assert.equal((await s.jobs.claimById('b1', cap1)).kind, 'claimed', 'another key is not held back');
  });

  test('claimById takes over a running job with a new attempt that fences out the old one', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_1' }));
    const first = await s.jobs.claimById('job_1', OPTIONS);
    assert.ok(first.kind === 'claimed');
    // The first worker stopped heartbeating; the queue hands the job to another.
    const second = await s.jobs.claimById('job_1', { ...OPTIONS, now: at(5000) });
    assert.ok(second.kind === 'claimed');
    assert.equal(second.takeover, true);
    assert.equal(second.job.attempts, 2);
    // The first attempt finishes late: its fenced commit is refused, the second's lands once.
    const late = await s.jobs.update('job_1', { status: 'succeeded' }, { status: 'running', attempts: 1 });
    assert.equal(late, undefined);
    const done = await s.jobs.update('job_1', { status: 'succeeded' }, { status: 'running', attempts: 2 });
    assert.equal(done?.status, 'succeeded');
    const again = await s.jobs.update('job_1', { status: 'succeeded' }, { status: 'running', attempts: 2 });
    assert.equal(again, undefined, 'a second commit of the same attempt finds it no longer running');
  });

  test('claimById fails a running job that has used every attempt with attempts_exhausted', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_1' }));
    for (let i = 0; i < 3; i++) assert.equal((await s.jobs.claimById('job_1', OPTIONS)).kind, 'claimed');
    const outcome = await s.jobs.claimById('job_1', { ...OPTIONS, now: at(9000) });
    assert.equal(outcome.kind, 'exhausted');
    const job = await s.jobs.get('job_1');
    assert.deepEqual([job?.status, job?.error?.code, job?.attempts], ['failed', 'attempts_exhausted', 3]);
    assert.equal(job?.finishedAt, at(9000).toISOString());
  });

  test('claimById reports an ended, canceled or missing job as gone and changes nothing', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_done', status: 'succeeded' }));
    await s.jobs.create(makeJob({ id: 'job_canceled', status: 'canceled', createdAt: T0.toISOString() }));
    const done = await s.jobs.claimById('job_done', OPTIONS);
    assert.equal(done.kind, 'gone');
    assert.equal(done.kind === 'gone' && done.job?.status, 'succeeded');
    assert.equal((await s.jobs.claimById('job_canceled', OPTIONS)).kind, 'gone');
    assert.deepEqual(await s.jobs.claimById('job_missing', OPTIONS), { kind: 'gone', job: undefined });
    assert.equal((await s.jobs.get('job_done'))?.attempts, 0);
  });
}

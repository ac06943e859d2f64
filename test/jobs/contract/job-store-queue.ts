import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import type { Job } from '../../../src/jobs/types.js';
import { at, makeJob, rejection, T0 } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function jobStoreQueueContract(backend: StoreBackend): void {
  test('list pages newest first through a status filter, and the last page has no cursor', async () => {
    const s = await backend.fresh();
    const made: Job[] = [];
    // Same createdAt for all: order must come from insertion, not from the timestamp.
    for (let i = 0; i < 7; i++) made.push((await s.jobs.create(makeJob({ id: `job_${i}` }))).job);
    for (const id of ['job_1', 'job_4']) await s.jobs.update(id, { status: 'canceled' });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await s.jobs.list({ status: 'queued', limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, ['job_6', 'job_5', 'job_3', 'job_2', 'job_0']);
    assert.equal(pages, 3);
    const exact = await s.jobs.list({ limit: 7 });
    assert.equal(exact.jobs.length, 7);
    assert.equal(exact.nextCursor, null, 'a page that ends exactly at the last job has no cursor');
  });

  test('list filters by key: a key id, null for open-mode jobs, undefined for all', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_a', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'job_open', keyId: null }));
    await s.jobs.create(makeJob({ id: 'job_b', keyId: 'key_b' }));
    const ids = async (keyId?: string | null) =>
      (await s.jobs.list({ limit: 10, ...(keyId === undefined ? {} : { keyId }) })).jobs.map((j) => j.id);
    assert.deepEqual(await ids('key_a'), ['job_a']);
    assert.deepEqual(await ids(null), ['job_open']);
    assert.deepEqual(await ids(undefined), ['job_b', 'job_open', 'job_a']);
  });

  test('BAD CALL - list rejects a forged cursor and a limit outside 1..100', async () => {
    const s = await backend.fresh();
    assert.ok(
      isPixeliftError(
        await rejection(s.jobs.list({ limit: 5, cursor: 'not a cursor!' })),
        'invalid_argument',
      ),
    );
    assert.ok(isPixeliftError(await rejection(s.jobs.list({ limit: 0 })), 'invalid_argument'));
    assert.ok(isPixeliftError(await rejection(s.jobs.list({ limit: 101 })), 'invalid_argument'));
  });

  test('queuedAhead counts the older queued jobs of every key; a job out of the queue has none', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_run', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'job_gone', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'job_a', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'job_b', keyId: 'key_b' }));
    await s.jobs.create(makeJob({ id: 'job_c', keyId: null }));
    assert.equal((await s.jobs.claim({ maxRunningPerKey: 10, now: at(1) }))?.job.id, 'job_run');
    await s.jobs.update('job_gone', { status: 'canceled' });
    assert.deepEqual(
      await Promise.all(['job_a', 'job_b', 'job_c'].map((id) => s.jobs.queuedAhead(id))),
      [0, 1, 2],
    );
    assert.equal(await s.jobs.queuedAhead('job_run'), undefined, 'running');
    assert.equal(await s.jobs.queuedAhead('job_gone'), undefined, 'canceled');
    assert.equal(await s.jobs.queuedAhead('job_missing'), undefined, 'no such job');
  });

  test('claim takes the oldest queued job first and marks it running with a new attempt', async () => {
    const s = await backend.fresh();
    for (const id of ['job_1', 'job_2', 'job_3']) await s.jobs.create(makeJob({ id, progress: 0.3 }));
    const claimed = (await s.jobs.claim({ maxRunningPerKey: 10, now: at(1234) }))?.job;
    assert.equal(claimed?.id, 'job_1');
    assert.equal(claimed?.status, 'running');
    assert.equal(claimed?.attempts, 1);
    assert.equal(claimed?.progress, 0);
    assert.equal(claimed?.startedAt, at(1234).toISOString());
    assert.deepEqual(await s.jobs.get('job_1'), claimed);
    assert.equal((await s.jobs.claim({ maxRunningPerKey: 10, now: T0 }))?.job.id, 'job_2');
    assert.equal((await s.jobs.claim({ maxRunningPerKey: 10, now: T0 }))?.job.id, 'job_3');
    assert.equal(await s.jobs.claim({ maxRunningPerKey: 10, now: T0 }), undefined);
  });

  test('claim skips a key at its running cap, and open-mode jobs share one cap', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'a1', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'a2', keyId: 'key_a' }));
    await s.jobs.create(makeJob({ id: 'o1', keyId: null }));
    await s.jobs.create(makeJob({ id: 'o2', keyId: null }));
    await s.jobs.create(makeJob({ id: 'b1', keyId: 'key_b' }));
    const next = async () => (await s.jobs.claim({ maxRunningPerKey: 1, now: T0 }))?.job.id;
    assert.deepEqual([await next(), await next(), await next(), await next()], ['a1', 'o1', 'b1', undefined]);
    await s.jobs.update('a1', { status: 'succeeded' }, { status: 'running' });
    assert.equal(await next(), 'a2');
    assert.deepEqual(await s.jobs.activeCount('key_a'), { queued: 0, running: 1 });
    assert.deepEqual(await s.jobs.activeCount(null), { queued: 1, running: 1 });
  });

  test('a fenced update applies only while status and attempts still match', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob({ id: 'job_1' }));
    await s.jobs.claim({ maxRunningPerKey: 1, now: T0 }); // attempt 1
    await s.jobs.recover({ maxAttempts: 3, now: T0 }); // crash: back to queued
    await s.jobs.claim({ maxRunningPerKey: 1, now: T0 }); // attempt 2

    // The runner of attempt 1 reports late: it must not overwrite attempt 2.
    const stale = await s.jobs.update('job_1', { status: 'failed' }, { status: 'running', attempts: 1 });
    assert.equal(stale, undefined);
    assert.equal((await s.jobs.get('job_1'))?.status, 'running');
    assert.equal(
      await s.jobs.update('job_1', { progress: 1 }, { status: ['queued', 'canceled'] }),
      undefined,
    );

    const done = await s.jobs.update(
      'job_1',
      { status: 'succeeded', progress: 1, expiresAt: at(60_000).toISOString(), etaSeconds: undefined },
      { status: ['running', 'queued'], attempts: 2 },
    );
    assert.equal(done?.status, 'succeeded');
    assert.equal(done?.etaSeconds, null, 'an undefined patch field leaves the stored value');
    assert.deepEqual(await s.jobs.get('job_1'), done);
    assert.equal((await s.jobs.counts()).succeeded, 1, 'the status column moved with the record');
    assert.equal(await s.jobs.update('job_missing', { progress: 1 }), undefined);
  });

  test('active() counts queued and running jobs only', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob());
    await s.jobs.create(makeJob());
    await s.jobs.create(makeJob({ status: 'succeeded' }));
    await s.jobs.claim({ maxRunningPerKey: 5, now: new Date() });
    assert.deepEqual(await s.jobs.active(), { queued: 1, running: 1 });
  });
}

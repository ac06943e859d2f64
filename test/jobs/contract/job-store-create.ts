import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPixeliftError } from '../../../src/errors.js';
import { makeJob, rejection } from '../fixtures.js';
import type { StoreBackend } from './backend.js';

export function jobStoreCreateContract(backend: StoreBackend): void {
  const IDEM = { key: 'req-42', fingerprint: 'sha256:aaa' };

  test('the same idempotency key and fingerprint replay the stored job without a second charge', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 5 });
    const first = await s.jobs.create(makeJob({ keyId: key.id, cost: 2 }), {
      charge: true,
      idempotency: IDEM,
    });
    assert.equal(first.replayed, false);
    await s.jobs.update(first.job.id, { progress: 0.5 });

    const second = await s.jobs.create(makeJob({ keyId: key.id, cost: 2 }), {
      charge: true,
      idempotency: IDEM,
    });
    assert.equal(second.replayed, true);
    assert.equal(second.job.id, first.job.id);
    assert.equal(second.job.progress, 0.5, 'the replay returns the job as stored now');
    assert.equal((await s.keys.get(key.id))?.credits, 3);
    assert.equal((await s.jobs.counts()).queued, 1);
  });

  test('EXPECTED FAILURE - an idempotency key reused with another fingerprint is refused', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob(), { idempotency: IDEM });
    const err = await rejection(
      s.jobs.create(makeJob(), { idempotency: { ...IDEM, fingerprint: 'sha256:bbb' } }),
    );
    assert.ok(isPixeliftError(err, 'idempotency_key_reused'));
    assert.equal(err.details.key, 'req-42');
    assert.equal((await s.jobs.counts()).queued, 1);
  });

  test('idempotency keys are scoped per API key, and open mode (no key) has its own scope', async () => {
    const s = await backend.fresh();
    const a = await s.keys.create({ name: 'a', credits: null });
    const b = await s.keys.create({ name: 'b', credits: null });
    const ja = await s.jobs.create(makeJob({ keyId: a.key.id }), { idempotency: IDEM });
    const jb = await s.jobs.create(makeJob({ keyId: b.key.id }), {
      idempotency: { ...IDEM, fingerprint: 'x' },
    });
    const open = await s.jobs.create(makeJob({ keyId: null }), {
      idempotency: { ...IDEM, fingerprint: 'y' },
    });
    assert.deepEqual([ja.replayed, jb.replayed, open.replayed], [false, false, false]);
    const openAgain = await s.jobs.create(makeJob({ keyId: null }), {
      idempotency: { ...IDEM, fingerprint: 'y' },
    });
    assert.equal(openAgain.replayed, true);
    assert.equal(openAgain.job.id, open.job.id);
  });

  test('a charge debits the cost in hundredths, with no float drift over many small jobs', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 1 });
    for (let i = 0; i < 10; i++) await s.jobs.create(makeJob({ keyId: key.id, cost: 0.1 }), { charge: true });
    // 1 - 10 × 0.1 in floats is 1.3877787807814457e-16, which would let an 11th job through.
    assert.equal((await s.keys.get(key.id))?.credits, 0);
    const err = await rejection(s.jobs.create(makeJob({ keyId: key.id, cost: 0.1 }), { charge: true }));
    assert.ok(isPixeliftError(err, 'insufficient_credits'));
  });

  test('EXPECTED FAILURE - insufficient credits refuse the job and leave the balance and the queue unchanged', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 1.5 });
    const err = await rejection(
      s.jobs.create(makeJob({ keyId: key.id, cost: 1.51 }), { charge: true, idempotency: IDEM }),
    );
    assert.ok(isPixeliftError(err, 'insufficient_credits'));
    assert.deepEqual(err.details, { cost: 1.51, credits: 1.5 });
    assert.equal((await s.keys.get(key.id))?.credits, 1.5);
    assert.equal((await s.jobs.counts()).queued, 0);
    // Nothing was stored under the idempotency key either: the retry after a top-up is a new job.
    await s.keys.addCredits(key.id, 1);
    const retry = await s.jobs.create(makeJob({ keyId: key.id, cost: 1.51 }), {
      charge: true,
      idempotency: IDEM,
    });
    assert.equal(retry.replayed, false);
    assert.equal((await s.keys.get(key.id))?.credits, 0.99);
  });

  test('unlimited keys and uncharged creates leave credits alone; the stored cost is rounded to hundredths', async () => {
    const s = await backend.fresh();
    const unlimited = await s.keys.create({ name: 'u', credits: null });
    const limited = await s.keys.create({ name: 'l', credits: 3 });
    await s.jobs.create(makeJob({ keyId: unlimited.key.id, cost: 100 }), { charge: true });
    const free = await s.jobs.create(makeJob({ keyId: limited.key.id, cost: 1.234 }), { charge: false });
    assert.equal((await s.keys.get(unlimited.key.id))?.credits, null);
    assert.equal((await s.keys.get(limited.key.id))?.credits, 3);
    assert.equal(free.job.cost, 1.23);
    assert.equal((await s.jobs.get(free.job.id))?.cost, 1.23);
  });

  test('EXPECTED FAILURE - queue_full once maxQueued jobs wait, counting only queued ones', async () => {
    const s = await backend.fresh();
    await s.jobs.create(makeJob(), { maxQueued: 2 });
    await s.jobs.create(makeJob(), { maxQueued: 2 });
    const err = await rejection(s.jobs.create(makeJob(), { maxQueued: 2 }));
    assert.ok(isPixeliftError(err, 'queue_full'));
    assert.deepEqual(err.details, { queued: 2, retryAfter: 5 });
    await s.jobs.claim({ maxRunningPerKey: 5, now: new Date() }); // one leaves the queue
    assert.equal((await s.jobs.create(makeJob(), { maxQueued: 2 })).replayed, false);
  });

  test('an idempotent replay is answered even when the queue is full', async () => {
    const s = await backend.fresh();
    const first = await s.jobs.create(makeJob(), { idempotency: IDEM, maxQueued: 1 });
    const again = await s.jobs.create(makeJob(), { idempotency: IDEM, maxQueued: 1 });
    assert.equal(again.replayed, true);
    assert.equal(again.job.id, first.job.id);
  });

  test('a refund gives the charge back once, however often it is asked', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 10 });
    const { job } = await s.jobs.create(makeJob({ keyId: key.id, cost: 4 }), { charge: true });
    assert.equal((await s.keys.get(key.id))?.credits, 6);
    const refunded = await s.jobs.refund(job.id);
    assert.equal(refunded?.refunded, true);
    assert.equal((await s.jobs.get(job.id))?.refunded, true);
    await s.jobs.refund(job.id);
    assert.equal((await s.keys.get(key.id))?.credits, 10);
    assert.equal(await s.jobs.refund('job_missing'), undefined);
  });

  test('refunding a job that was never charged mints no credits', async () => {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 10 });
    const { job } = await s.jobs.create(makeJob({ keyId: key.id, cost: 4 }), { charge: false });
    assert.equal((await s.jobs.refund(job.id))?.refunded, true);
    assert.equal((await s.keys.get(key.id))?.credits, 10);
  });

  test('findIdempotent returns the job and fingerprint stored under a key, scoped per API key', async () => {
    const s = await backend.fresh();
    const a = await s.keys.create({ name: 'a', credits: null });
    const { job } = await s.jobs.create(makeJob({ keyId: a.key.id }), { idempotency: IDEM });
    const found = await s.jobs.findIdempotent(a.key.id, IDEM.key);
    assert.equal(found?.job.id, job.id);
    assert.equal(found?.fingerprint, IDEM.fingerprint);
    assert.equal(await s.jobs.findIdempotent(null, IDEM.key), undefined);
    assert.equal(await s.jobs.findIdempotent(a.key.id, 'other'), undefined);
  });
}

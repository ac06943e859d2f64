import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveryAttempt } from '../../../src/jobs/store.js';
import { at, T0 } from '../fixtures.js';
import type { StoreBackend, StoreHandle } from './backend.js';

export function webhookOutboxContract(backend: StoreBackend): void {
  type Stores = StoreHandle;

  function enqueue(s: Stores, jobId: string, now = T0) {
    return s.outbox.enqueue({
      jobId,
      eventType: 'completed',
      url: 'https://hooks.example/pixelift',
      messageId: `msg_${jobId}`,
      payload: JSON.stringify({ id: jobId }),
      scheme: 'standard',
      now,
    });
  }

  function attempt(statusCode: number | null, ms = 0): DeliveryAttempt {
    return {
      at: at(ms).toISOString(),
      statusCode,
      error: statusCode === null ? 'ECONNREFUSED' : null,
      durationMs: 12,
    };
  }

  test('a new delivery is pending, due now, with no attempts and a whd_ id', async () => {
    const s = await backend.fresh();
    const d = await enqueue(s, 'job_1');
    assert.match(d.id, /^whd_[0-9a-f]{32}$/);
    assert.deepEqual(
      [d.status, d.attempts, d.nextAttemptAt, d.createdAt],
      ['pending', [], T0.toISOString(), T0.toISOString()],
    );
    assert.equal(await s.outbox.pendingCount(), 1);
  });

  test('claimDue leases what it returns, so a second claim inside the lease gets nothing', async () => {
    const s = await backend.fresh();
    const a = await enqueue(s, 'job_a');
    const b = await enqueue(s, 'job_b');
    await enqueue(s, 'job_later', at(10_000));

    const first = await s.outbox.claimDue({ now: at(0), limit: 10, leaseMs: 30_000 });
    assert.deepEqual(
      first.map((d) => d.id),
      [a.id, b.id],
      'due ones only, oldest first',
    );
    assert.equal(first[0]?.nextAttemptAt, at(30_000).toISOString());
    assert.equal((await s.outbox.get(a.id))?.nextAttemptAt, at(30_000).toISOString());

    const second = await s.outbox.claimDue({ now: at(10_000), limit: 10, leaseMs: 30_000 });
    assert.deepEqual(
      second.map((d) => d.jobId),
      ['job_later'],
      'the leased ones are not handed out again',
    );
    // A dispatcher that died mid-send: its lease lapses and the delivery is claimable again.
    const afterLease = await s.outbox.claimDue({ now: at(30_000), limit: 1, leaseMs: 30_000 });
    assert.deepEqual(
      afterLease.map((d) => d.id),
      [a.id],
      'limit is honoured',
    );
  });

  test('recordAttempt: retry stays pending until next, success delivers, a final failure fails', async () => {
    const s = await backend.fresh();
    const ok = await enqueue(s, 'job_ok');
    const bad = await enqueue(s, 'job_bad');

    const retry = await s.outbox.recordAttempt(ok.id, attempt(503), { ok: false, next: at(5000) });
    assert.deepEqual(
      [retry?.status, retry?.nextAttemptAt, retry?.attempts.length],
      ['pending', at(5000).toISOString(), 1],
    );
    const claimedIds = async (ms: number) =>
      (await s.outbox.claimDue({ now: at(ms), limit: 10, leaseMs: 1 })).map((d) => d.id);
    assert.ok(!(await claimedIds(4999)).includes(ok.id), 'not before its backoff ends');
    assert.ok((await claimedIds(5000)).includes(ok.id));
    const delivered = await s.outbox.recordAttempt(ok.id, attempt(200, 5000), { ok: true, next: null });
    assert.deepEqual([delivered?.status, delivered?.nextAttemptAt], ['delivered', null]);
    assert.deepEqual(delivered?.attempts, [attempt(503), attempt(200, 5000)]);

    const failed = await s.outbox.recordAttempt(bad.id, attempt(null), { ok: false, next: null });
    assert.deepEqual([failed?.status, failed?.nextAttemptAt], ['failed', null]);
    assert.equal(failed?.attempts[0]?.error, 'ECONNREFUSED');

    assert.equal(await s.outbox.pendingCount(), 0);
    assert.deepEqual(await s.outbox.claimDue({ now: at(1e9), limit: 10, leaseMs: 1000 }), []);
    assert.equal(
      await s.outbox.recordAttempt('whd_missing', attempt(200), { ok: true, next: null }),
      undefined,
    );
  });

  test("list returns a job's deliveries in the order they were enqueued", async () => {
    const s = await backend.fresh();
    const one = await enqueue(s, 'job_1');
    await enqueue(s, 'job_2');
    const two = await enqueue(s, 'job_1');
    assert.deepEqual(
      (await s.outbox.list('job_1')).map((d) => d.id),
      [one.id, two.id],
    );
    assert.deepEqual(await s.outbox.list('job_none'), []);
  });

  test('two store instances on one database (two dispatchers) never claim the same delivery', async () => {
    const s = await backend.fresh();
    const other = await s.reopen();
    for (let i = 0; i < 6; i++) await enqueue(s, `job_${i}`);
    const a = await s.outbox.claimDue({ now: T0, limit: 4, leaseMs: 60_000 });
    const b = await other.outbox.claimDue({ now: T0, limit: 4, leaseMs: 60_000 });
    assert.equal(a.length, 4);
    assert.equal(b.length, 2);
    assert.deepEqual(
      a.map((d) => d.id).filter((id) => b.some((d) => d.id === id)),
      [],
    );
  });
}

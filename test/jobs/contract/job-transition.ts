/**
 * The transactional outbox: a job's change of state, its event and its webhook delivery commit
 * together or not at all. The failure is injected by the database itself (a trigger that refuses
 * every delivery row), between the job's write and the outbox's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JobTransition, WebhookFor } from '../../../src/jobs/store.js';
import type { Job } from '../../../src/jobs/types.js';
import { makeJob, rejection, T0 } from '../fixtures.js';
import type { StoreBackend, StoreHandle } from './backend.js';

export function jobTransitionContract(backend: StoreBackend): void {
  const webhook: WebhookFor = (job, event) => ({
    url: 'https://hooks.example/pixelift',
    scheme: 'standard',
    messageId: `msg_${event.id}`,
    payload: JSON.stringify({ type: event.type, status: job.status, refunded: job.refunded }),
  });

  function failed(attempts: number): JobTransition {
    return {
      patch: { status: 'failed', error: { code: 'internal', message: 'boom' }, finishedAt: T0.toISOString() },
      fence: { status: 'running', attempts },
      refund: true,
      event: { type: 'failed', data: (job) => ({ status: job.status }) },
      webhook,
    };
  }

  /**
   * A charged job of a key with 5 credits, claimed (running, attempt 1); `lastId`: its last event
   * so far (`started`, recorded by the claim).
   */
  async function runningCharged(s: StoreHandle): Promise<{ job: Job; keyId: string; lastId: number }> {
    const { key } = await s.keys.create({ name: 'a', credits: 5 });
    await s.jobs.create(makeJob({ keyId: key.id, cost: 2 }), { charge: true });
    const claimed = await s.jobs.claim({ maxRunningPerKey: 5, now: T0 });
    assert.equal(claimed?.job.status, 'running');
    return { job: claimed!.job, keyId: key.id, lastId: claimed!.event.id };
  }

  test('a transition commits the change, the refund, its event and its webhook delivery together', async () => {
    const s = await backend.fresh();
    const { job, keyId, lastId } = await runningCharged(s);
    const done = await s.jobs.transition(job.id, failed(job.attempts));
    assert.equal(done?.job.status, 'failed');
    assert.equal(done?.job.refunded, true);
    assert.equal((await s.keys.get(keyId))?.credits, 5, 'the charge came back');
    const events = await s.events.since({ afterId: lastId, jobId: job.id });
    assert.deepEqual(
      events.map((e) => [e.id, e.type, e.data]),
      [[done!.event.id, 'failed', { status: 'failed' }]],
    );
    const deliveries = await s.outbox.list(job.id);
    assert.deepEqual(
      deliveries.map((d) => [d.eventType, d.messageId, JSON.parse(d.payload), d.status]),
      [['failed', `msg_${done!.event.id}`, { type: 'failed', status: 'failed', refunded: true }, 'pending']],
      'the formatter saw the event with its id and the job as changed',
    );
  });

  test('EXPECTED FAILURE - a delivery the database refuses leaves the job, its credits, the event log and the outbox as they were', async () => {
    const s = await backend.fresh();
    const { job, keyId, lastId } = await runningCharged(s);
    await s.rejectDeliveries();
    const err = await rejection(s.jobs.transition(job.id, failed(job.attempts)));
    assert.match(err.message, /delivery refused/);
    const stored = await s.jobs.get(job.id);
    assert.deepEqual([stored?.status, stored?.refunded, stored?.error], ['running', false, null]);
    assert.equal((await s.keys.get(keyId))?.credits, 3, 'still charged');
    assert.deepEqual(await s.events.since({ afterId: lastId, jobId: job.id }), []);
    assert.deepEqual(await s.outbox.list(job.id), []);
  });

  test('a transition whose fence fails writes nothing', async () => {
    const s = await backend.fresh();
    const { job, lastId } = await runningCharged(s);
    assert.equal(await s.jobs.transition(job.id, failed(job.attempts + 1)), undefined);
    assert.equal(await s.jobs.transition('job_missing', failed(1)), undefined);
    assert.equal((await s.jobs.get(job.id))?.status, 'running');
    assert.deepEqual(await s.events.since({ afterId: lastId, jobId: job.id }), []);
    assert.deepEqual(await s.outbox.list(job.id), []);
  });

  test('a transition with no webhook message records the event and queues nothing', async () => {
    const s = await backend.fresh();
    const { job, lastId } = await runningCharged(s);
    const done = await s.jobs.transition(job.id, { ...failed(job.attempts), webhook: () => undefined });
    assert.equal(done?.job.status, 'failed');
    assert.equal((await s.events.since({ afterId: lastId, jobId: job.id })).length, 1);
    assert.deepEqual(await s.outbox.list(job.id), []);
  });
}

/**
 * The transactional outbox for the moves that record their own event (create, claim, claimById,
 * recover, expire): the job's change, its event and its webhook delivery commit together or not
 * at all, as job-transition.ts proves for `transition`. The failure is injected by the database
 * (a trigger that refuses every delivery row), after the job's write and the event's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { WebhookFor } from '../../../src/jobs/store.js';
import type { JobEvent, JobEventType, JobStatus } from '../../../src/jobs/types.js';
import { at, makeJob, RESULT, rejection, T0 } from '../fixtures.js';
import type { StoreBackend, StoreHandle } from './backend.js';

const webhook: WebhookFor = (job, event) => ({
  url: 'https://hooks.example/pixelift',
  scheme: 'standard',
  messageId: `msg_${event.id}`,
  payload: JSON.stringify({ type: event.type, status: job.status, refunded: job.refunded }),
});

const ID = 'job_move';
const CLAIM = { maxRunningPerKey: 5, maxAttempts: 3, now: T0 };

interface Move {
  readonly name: string;
  /** The state before the move (a key with 5 credits is `keyId`); charged jobs cost 2. */
  readonly setup: (s: StoreHandle, keyId: string) => Promise<void>;
  /** The move, with the test's webhook; the events it says it recorded. */
  readonly run: (s: StoreHandle, keyId: string, webhook: WebhookFor) => Promise<JobEvent[]>;
  /** The job's status before (undefined: no job yet) and after. */
  readonly before: JobStatus | undefined;
  readonly after: JobStatus;
  readonly type: JobEventType;
  /** The key's credits after the move (5 before the job was charged, 3 while charged). */
  readonly credits: number;
}

const charged = (s: StoreHandle, keyId: string, extra: Parameters<typeof makeJob>[0] = {}) =>
  s.jobs.create(makeJob({ id: ID, keyId, cost: 2, ...extra }), { charge: true });

const MOVES: readonly Move[] = [
  {
    name: 'create',
    setup: async () => undefined,
    run: async (s, keyId, webhook) => {
      const created = await s.jobs.create(makeJob({ id: ID, keyId, cost: 2 }), { charge: true, webhook });
      return created.replayed ? [] : [created.event];
    },
    before: undefined,
    after: 'queued',
    type: 'queued',
    credits: 3,
  },
  {
    name: 'claim',
    setup: async (s, keyId) => void (await charged(s, keyId)),
    run: async (s, _, webhook) => {
      const claimed = await s.jobs.claim({ ...CLAIM, webhook });
      return claimed ? [claimed.event] : [];
    },
    before: 'queued',
    after: 'running',
    type: 'started',
    credits: 3,
  },
  {
    name: 'claimById (a queued job)',
    setup: async (s, keyId) => void (await charged(s, keyId)),
    run: async (s, _, webhook) => {
      const outcome = await s.jobs.claimById(ID, { ...CLAIM, webhook });
      assert.equal(outcome.kind, 'claimed');
      return outcome.kind === 'claimed' ? [outcome.event] : [];
    },
    before: 'queued',
    after: 'running',
    type: 'started',
    credits: 3,
  },
  {
    name: 'claimById (a takeover)',
    setup: async (s, keyId) => {
      await charged(s, keyId);
      assert.equal((await s.jobs.claimById(ID, CLAIM)).kind, 'claimed');
    },
    run: async (s, _, webhook) => {
      const outcome = await s.jobs.claimById(ID, { ...CLAIM, webhook });
      assert.ok(outcome.kind === 'claimed' && outcome.takeover && outcome.job.attempts === 2);
      return [outcome.event];
    },
    before: 'running',
    after: 'running',
    type: 'started',
    credits: 3,
  },
  {
    name: 'claimById (out of attempts)',
    setup: async (s, keyId) => {
      await charged(s, keyId);
      assert.equal((await s.jobs.claimById(ID, { ...CLAIM, maxAttempts: 1 })).kind, 'claimed');
    },
    run: async (s, _, webhook) => {
      const outcome = await s.jobs.claimById(ID, { ...CLAIM, maxAttempts: 1, webhook });
      assert.equal(outcome.kind, 'exhausted');
      return outcome.kind === 'exhausted' ? [outcome.event] : [];
    },
    before: 'running',
    after: 'failed',
    type: 'failed',
    credits: 5,
  },
  {
    name: 'recover (out of attempts)',
    setup: async (s, keyId) => {
      await charged(s, keyId);
      assert.ok(await s.jobs.claim(CLAIM));
    },
    run: async (s, _, webhook) => {
      const { requeued, failed } = await s.jobs.recover({ maxAttempts: 1, now: at(1000), webhook });
      assert.deepEqual(requeued, []);
      return failed.map((f) => f.event);
    },
    before: 'running',
    after: 'failed',
    type: 'failed',
    credits: 5,
  },
  {
    name: 'expire',
    setup: async (s, keyId) =>
      void (await charged(s, keyId, {
        status: 'succeeded',
        result: RESULT,
        expiresAt: at(60_000).toISOString(),
      })),
    run: async (s, _, webhook) => (await s.jobs.expire(at(60_000), { webhook })).map((e) => e.event),
    before: 'succeeded',
    after: 'expired',
    type: 'expired',
    credits: 3,
  },
];

export function jobMoveEventsContract(backend: StoreBackend): void {
  /** A fresh store, a key with 5 credits, the move's setup, and the id of the last event before the move. */
  async function prepared(move: Move): Promise<{ s: StoreHandle; keyId: string; lastId: number }> {
    const s = await backend.fresh();
    const { key } = await s.keys.create({ name: 'a', credits: 5 });
    await move.setup(s, key.id);
    const lastId = (await s.events.since({ afterId: 0 })).at(-1)?.id ?? 0;
    return { s, keyId: key.id, lastId };
  }

  for (const move of MOVES) {
    test(`${move.name} commits the change, exactly one ${move.type} event and its webhook delivery together`, async () => {
      const { s, keyId, lastId } = await prepared(move);
      const recorded = await move.run(s, keyId, webhook);
      assert.equal(recorded.length, 1);
      const event = recorded[0]!;
      assert.deepEqual([event.jobId, event.type, event.data.status], [ID, move.type, move.after]);
      assert.deepEqual(
        await s.events.since({ afterId: lastId }),
        [event],
        'the log holds the event returned',
      );
      const job = await s.jobs.get(ID);
      assert.equal(job?.status, move.after);
      assert.deepEqual(
        (await s.outbox.list(ID)).map((d) => [d.eventType, d.messageId, JSON.parse(d.payload), d.status]),
        [
          [
            move.type,
            `msg_${event.id}`,
            { type: move.type, status: move.after, refunded: job?.refunded },
            'pending',
          ],
        ],
        'one delivery, formatted from the event with its id and the job as changed',
      );
      assert.equal(job?.refunded, move.credits === 5, 'refunded exactly when the move gives the charge back');
      assert.equal((await s.keys.get(keyId))?.credits, move.credits);
    });

    test(`EXPECTED FAILURE - ${move.name} with its delivery refused leaves the job, its credits, the event log and the outbox as they were`, async () => {
      const { s, keyId, lastId } = await prepared(move);
      const before = await s.jobs.get(ID);
      const credits = (await s.keys.get(keyId))?.credits;
      await s.rejectDeliveries();
      const err = await rejection(move.run(s, keyId, webhook));
      assert.match(err.message, /delivery refused/);
      assert.equal(before?.status, move.before);
      assert.deepEqual(await s.jobs.get(ID), before, 'the job as it was (none, for create)');
      assert.equal((await s.keys.get(keyId))?.credits, credits, 'no charge taken nor given back');
      assert.deepEqual(await s.events.since({ afterId: lastId }), []);
      assert.deepEqual(await s.outbox.list(ID), []);
    });
  }

  test('a move with no webhook message records its event and queues nothing', async () => {
    const s = await backend.fresh();
    const created = await s.jobs.create(makeJob({ id: ID }), { webhook: () => undefined });
    const claimed = await s.jobs.claim({ ...CLAIM, webhook: () => undefined });
    assert.deepEqual(
      (await s.events.since({ afterId: 0, jobId: ID })).map((e) => [e.id, e.type]),
      [
        [!created.replayed && created.event.id, 'queued'],
        [claimed?.event.id, 'started'],
      ],
    );
    assert.deepEqual(await s.outbox.list(ID), []);
  });

  test('a replayed create records no second event and queues no second delivery', async () => {
    const s = await backend.fresh();
    const idempotency = { key: 'idem-1', fingerprint: 'fp' };
    const first = await s.jobs.create(makeJob({ id: ID }), { idempotency, webhook });
    const again = await s.jobs.create(makeJob(), { idempotency, webhook });
    assert.deepEqual([first.replayed, again.replayed, again.job.id], [false, true, ID]);
    assert.equal((await s.events.since({ afterId: 0 })).length, 1);
    assert.equal((await s.outbox.list(ID)).length, 1);
  });

  test('recover and expire record one event and one delivery for each job they change, in one transaction', async () => {
    const s = await backend.fresh();
    for (const id of ['job_a', 'job_b']) await s.jobs.create(makeJob({ id }));
    for (const id of ['job_c', 'job_d'])
      await s.jobs.create(makeJob({ id, status: 'succeeded', result: RESULT, expiresAt: T0.toISOString() }));
    await s.jobs.claim(CLAIM);
    await s.jobs.claim(CLAIM);
    const lastId = (await s.events.since({ afterId: 0 })).at(-1)!.id;
    const { failed } = await s.jobs.recover({ maxAttempts: 1, now: T0, webhook });
    const expired = await s.jobs.expire(T0, { webhook });
    const events = [...failed, ...expired].map((r) => r.event);
    assert.deepEqual(
      events.map((e) => [e.jobId, e.type]),
      [
        ['job_a', 'failed'],
        ['job_b', 'failed'],
        ['job_c', 'expired'],
        ['job_d', 'expired'],
      ],
    );
    assert.deepEqual(await s.events.since({ afterId: lastId }), events);
    for (const e of events) {
      assert.deepEqual(
        (await s.outbox.list(e.jobId)).map((d) => [d.eventType, d.messageId]),
        [[e.type, `msg_${e.id}`]],
      );
    }
  });
}

/**
 * Jobs in PostgreSQL, shared by every API node and worker. Each read-then-write locks the job's
 * row (SELECT … FOR UPDATE) inside one transaction; the moves that must see every running job
 * at once (claims, for the per-key cap) also take one transaction-scoped advisory lock, so two
 * workers never both count a key below its cap and both start a job.
 */
import { invalidArgument, PixeliftError } from '../../errors.js';
import { deliveryOf } from '../delivery-record.js';
import {
  applyPatch,
  backToQueue,
  checkCap,
  claimed,
  decodeCursor,
  encodeCursor,
  exhausted,
  type Fence,
  fenceHolds,
  instantMs,
  moveEvent,
  normalizeCost,
  QUEUE_FULL_RETRY_AFTER_S,
} from '../job-record.js';
import { fromHundredths, toHundredths } from '../money.js';
import type {
  ClaimByIdOptions,
  ClaimOptions,
  ClaimOutcome,
  Created,
  CreateJobOptions,
  JobPatch,
  JobStore,
  JobTransition,
  ListJobsQuery,
  Recorded,
  Recording,
  RecoverOptions,
  WebhookFor,
} from '../store.js';
import { JOB_STATUSES, type Job, type JobEvent, type JobStatus } from '../types.js';
import { inTransaction, type PgClient, type PgPool, type Queryable } from './database.js';
import { insertEvent } from './event-log.js';
import { insertDelivery } from './webhook-outbox.js';

interface JobRow {
  readonly seq: number;
  readonly key_id: string | null;
  readonly idempotency_fingerprint: string | null;
  readonly charged: number;
  readonly data: Job;
}

const CLAIM_LOCK = "pg_advisory_xact_lock(hashtext('pixelift.claim'))";

export class PostgresJobStore implements JobStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async create(job: Job, options: CreateJobOptions = {}): Promise<Created> {
    const idempotency = options.idempotency;
    return inTransaction(this.#pool, async (c) => {
      if (idempotency) {
        // Two requests with the same key at once: the second waits here and then replays the first.
        await c.query("SELECT pg_advisory_xact_lock(hashtext('pixelift.idem:' || $1 || ':' || $2))", [
          job.keyId ?? '',
          idempotency.key,
        ]);
        const row = await byIdempotency(c, job.keyId, idempotency.key);
        if (row) {
          if (row.idempotency_fingerprint !== idempotency.fingerprint) {
            throw new PixeliftError('idempotency_key_reused', { key: idempotency.key });
          }
          return { job: row.data, replayed: true as const };
        }
      }
      if (options.maxQueuedPerKey !== undefined) {
        // Two submissions of one key at once: the second waits here, then counts the first.
        await c.query("SELECT pg_advisory_xact_lock(hashtext('pixelift.keyq:' || $1))", [job.keyId ?? '']);
        const { rows } = await c.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM jobs WHERE key_id IS NOT DISTINCT FROM $1 AND status = 'queued'",
          [job.keyId],
        );
        const queued = rows[0]?.n ?? 0;
        if (queued >= options.maxQueuedPerKey) {
          throw new PixeliftError('key_queue_full', { queued, retryAfter: QUEUE_FULL_RETRY_AFTER_S });
        }
      }
      if (options.maxQueued !== undefined) {
        const queued = await countStatus(c, 'queued');
        if (queued >= options.maxQueued) {
          throw new PixeliftError('queue_full', { queued, retryAfter: QUEUE_FULL_RETRY_AFTER_S });
        }
      }
      const stored = normalizeCost(job);
      const charged = options.charge && stored.keyId !== null ? await debit(c, stored.keyId, stored.cost) : 0;
      await c.query(
        `INSERT INTO jobs (id, status, key_id, created_at, attempts, idempotency_key, idempotency_fingerprint,
           expires_at_ms, cost, charged, refunded, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          stored.id,
          stored.status,
          stored.keyId,
          stored.createdAt,
          stored.attempts,
          idempotency?.key ?? null,
          idempotency?.fingerprint ?? null,
          instantMs('expiresAt', stored.expiresAt),
          toHundredths(stored.cost),
          charged,
          stored.refunded,
          JSON.stringify(stored),
        ],
      );
      return { replayed: false as const, ...(await record(c, stored, moveEvent('queued'), options.webhook)) };
    });
  }

  async get(id: string): Promise<Job | undefined> {
    return (await byId(this.#pool, id))?.data;
  }

  async findIdempotent(
    keyId: string | null,
    key: string,
  ): Promise<{ job: Job; fingerprint: string } | undefined> {
    const row = await byIdempotency(this.#pool, keyId, key);
    return row && { job: row.data, fingerprint: row.idempotency_fingerprint ?? '' };
  }

  async list(query: ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    const { limit } = query;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw invalidArgument('limit', 'an integer from 1 to 100', limit);
    }
    const where: string[] = [];
    const params: (string | number | null)[] = [];
    const param = (v: string | number | null) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (query.keyId !== undefined) where.push(`key_id IS NOT DISTINCT FROM ${param(query.keyId)}`);
    if (query.status !== undefined) where.push(`status = ${param(query.status)}`);
    if (query.cursor !== undefined) where.push(`seq < ${param(decodeCursor(query.cursor))}`);
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const { rows } = await this.#pool.query<JobRow>(
      `SELECT seq, data FROM jobs ${filter} ORDER BY seq DESC LIMIT ${param(limit + 1)}`,
      params,
    );
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map((r) => r.data),
      nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
    };
  }

  async claim(options: ClaimOptions): Promise<Recorded | undefined> {
    checkCap(options.maxRunningPerKey);
    return inTransaction(this.#pool, async (c) => {
      await c.query(`SELECT ${CLAIM_LOCK}`);
      // Round-robin between keys, as in the SQLite store (../sqlite/job-lifecycle.ts claimNext).
      const { rows } = await c.query<JobRow>(
        `WITH heads AS (SELECT key_id, min(seq) AS seq FROM jobs WHERE status = 'queued' GROUP BY key_id)
         SELECT q.key_id, q.data FROM heads h
           JOIN jobs q ON q.seq = h.seq
           LEFT JOIN queue_turns t ON t.key = coalesce(h.key_id, '')
         WHERE (SELECT count(*) FROM jobs r
                WHERE r.status = 'running' AND r.key_id IS NOT DISTINCT FROM h.key_id) < $1
         ORDER BY coalesce(t.turn, 0), h.seq LIMIT 1`,
        [options.maxRunningPerKey],
      );
      const row = rows[0];
      if (!row) return undefined;
      await takeTurn(c, row.data.keyId);
      return move(c, claimed(row.data, options.now), moveEvent('started'), options.webhook);
    });
  }

  async claimById(id: string, options: ClaimByIdOptions): Promise<ClaimOutcome> {
    checkCap(options.maxRunningPerKey);
    return inTransaction(this.#pool, async (c) => {
      await c.query(`SELECT ${CLAIM_LOCK}`);
      const job = (await byId(c, id, true))?.data;
      if (!job || (job.status !== 'queued' && job.status !== 'running')) return { kind: 'gone', job };
      const start = () => move(c, claimed(job, options.now), moveEvent('started'), options.webhook);
      if (job.status === 'running') {
        if (job.attempts >= options.maxAttempts) {
          const failed = await move(
            c,
            exhausted(job, options.now),
            moveEvent('failed'),
            options.webhook,
            true,
          );
          return { kind: 'exhausted', ...failed };
        }
        return { kind: 'claimed', takeover: true, ...(await start()) };
      }
      const { rows } = await c.query<{ n: number }>(
        "SELECT count(*) AS n FROM jobs WHERE status = 'running' AND key_id IS NOT DISTINCT FROM $1",
        [job.keyId],
      );
      if ((rows[0]?.n ?? 0) >= options.maxRunningPerKey) return { kind: 'capped' };
      await takeTurn(c, job.keyId);
      return { kind: 'claimed', takeover: false, ...(await start()) };
    });
  }

  async update(id: string, patch: JobPatch, fence: Fence = {}): Promise<Job | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const job = (await byId(c, id, true))?.data;
      if (!job || !fenceHolds(job, fence)) return undefined;
      return put(c, applyPatch(job, patch));
    });
  }

  async transition(id: string, change: JobTransition): Promise<Recorded | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const before = (await byId(c, id, true))?.data;
      if (!before || !fenceHolds(before, change.fence)) return undefined;
      return move(c, applyPatch(before, change.patch), change.event, change.webhook, change.refund);
    });
  }

  async refund(id: string): Promise<Job | undefined> {
    return inTransaction(this.#pool, (c) => refundIn(c, id));
  }

  async recover(options: RecoverOptions): Promise<{ requeued: Job[]; failed: Recorded[] }> {
    return inTransaction(this.#pool, async (c) => {
      const { rows } = await c.query<JobRow>(
        "SELECT data FROM jobs WHERE status = 'running' ORDER BY seq FOR UPDATE",
      );
      const requeued: Job[] = [];
      const failed: Recorded[] = [];
      for (const { data: job } of rows) {
        if (job.attempts < options.maxAttempts) requeued.push(await put(c, backToQueue(job, job.attempts)));
        else
          failed.push(await move(c, exhausted(job, options.now), moveEvent('failed'), options.webhook, true));
      }
      return { requeued, failed };
    });
  }

  async requeue(id: string, fence: { readonly attempts: number }): Promise<Job | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const job = (await byId(c, id, true))?.data;
      if (!job || !fenceHolds(job, { status: 'running', attempts: fence.attempts })) return undefined;
      return put(c, backToQueue(job, Math.max(0, job.attempts - 1)));
    });
  }

  async expire(now: Date, recording: Recording = {}): Promise<{ before: Job; event: JobEvent }[]> {
    return inTransaction(this.#pool, async (c) => {
      // SKIP LOCKED: two API nodes sweeping at once each take different jobs, never the same one twice.
      const { rows } = await c.query<JobRow>(
        `SELECT data FROM jobs WHERE status = 'succeeded' AND expires_at_ms <= $1
           AND jsonb_typeof(data -> 'result') = 'object'
         ORDER BY seq FOR UPDATE SKIP LOCKED`,
        [now.getTime()],
      );
      const expired: { before: Job; event: JobEvent }[] = [];
      for (const { data: before } of rows) {
        const after: Job = { ...before, status: 'expired', result: null };
        expired.push({
          before,
          event: (await move(c, after, moveEvent('expired'), recording.webhook)).event,
        });
      }
      return expired;
    });
  }

  async delete(id: string): Promise<Job | undefined> {
    return inTransaction(this.#pool, async (c) => {
      const job = (await byId(c, id, true))?.data;
      if (!job) return undefined;
      await c.query('DELETE FROM job_events WHERE job_id = $1', [id]);
      await c.query('DELETE FROM webhook_deliveries WHERE job_id = $1', [id]);
      await c.query('DELETE FROM jobs WHERE id = $1', [id]);
      return job;
    });
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    const { rows } = await this.#pool.query<{ status: JobStatus; n: number }>(
      'SELECT status, count(*) AS n FROM jobs GROUP BY status',
    );
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }

  async active(): Promise<{ queued: number; running: number }> {
    return {
      queued: await countStatus(this.#pool, 'queued'),
      running: await countStatus(this.#pool, 'running'),
    };
  }

  async activeCount(keyId: string | null): Promise<{ queued: number; running: number }> {
    const { rows } = await this.#pool.query<{ status: JobStatus; n: number }>(
      `SELECT status, count(*) AS n FROM jobs
       WHERE key_id IS NOT DISTINCT FROM $1 AND status IN ('queued', 'running') GROUP BY status`,
      [keyId],
    );
    const of = (status: JobStatus) => rows.find((r) => r.status === status)?.n ?? 0;
    return { queued: of('queued'), running: of('running') };
  }

  async queuedAhead(id: string): Promise<number | undefined> {
    const { rows } = await this.#pool.query<{ n: number | null }>(
      `SELECT CASE WHEN j.status = 'queued'
         THEN (SELECT count(*) FROM jobs q WHERE q.status = 'queued' AND q.seq < j.seq) END AS n
       FROM jobs j WHERE j.id = $1`,
      [id],
    );
    return rows[0]?.n ?? undefined;
  }

  /** Jobs in one of `statuses`, oldest first: what the queue reconciler compares with BullMQ. */
  async idsWithStatus(
    statuses: readonly JobStatus[],
    limit: number,
  ): Promise<{ id: string; status: JobStatus; keyId: string | null }[]> {
    const { rows } = await this.#pool.query<{ id: string; status: JobStatus; keyId: string | null }>(
      'SELECT id, status, key_id AS "keyId" FROM jobs WHERE status = ANY($1) ORDER BY seq LIMIT $2',
      [statuses, limit],
    );
    return rows;
  }
}

async function byId(db: Queryable, id: string, lock = false): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(
    `SELECT seq, key_id, idempotency_fingerprint, charged, data FROM jobs WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0];
}

async function byIdempotency(db: Queryable, keyId: string | null, key: string): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(
    `SELECT seq, key_id, idempotency_fingerprint, charged, data FROM jobs
     WHERE coalesce(key_id, '') = coalesce($1, '') AND idempotency_key = $2`,
    [keyId, key],
  );
  return rows[0];
}

async function countStatus(db: Queryable, status: JobStatus): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*) AS n FROM jobs WHERE status = $1', [
    status,
  ]);
  return rows[0]?.n ?? 0;
}

/** Record that `keyId` was served (under the claim lock): its turn becomes the newest. */
async function takeTurn(c: PgClient, keyId: string | null): Promise<void> {
  await c.query(
    `INSERT INTO queue_turns (key, turn) VALUES ($1, (SELECT coalesce(max(turn), 0) + 1 FROM queue_turns))
     ON CONFLICT (key) DO UPDATE SET turn = excluded.turn`,
    [keyId ?? ''],
  );
}

/** Give a charge back, inside the caller's transaction. */
async function refundIn(c: PgClient, id: string): Promise<Job | undefined> {
  const row = await byId(c, id, true);
  if (!row) return undefined;
  if (row.data.refunded) return row.data;
  // What was taken at creation, not the cost (see the SQLite store).
  if (row.charged > 0 && row.key_id !== null) {
    await c.query('UPDATE api_keys SET credits = credits + $1 WHERE id = $2 AND credits IS NOT NULL', [
      row.charged,
      row.key_id,
    ]);
  }
  return put(c, { ...row.data, refunded: true });
}

/** Write `job`, give back its charge when `refund`, and record its event and webhook delivery, in `c`'s transaction. */
async function move(
  c: PgClient,
  job: Job,
  event: JobTransition['event'],
  webhook: WebhookFor | undefined,
  refund = false,
): Promise<Recorded> {
  const written = await put(c, job);
  return record(c, refund ? (await refundIn(c, job.id))! : written, event, webhook);
}

/** Record the event of `job` (as changed) and its webhook delivery, in `c`'s transaction. */
async function record(
  c: PgClient,
  job: Job,
  event: JobTransition['event'],
  webhook: WebhookFor | undefined,
): Promise<Recorded> {
  const recorded = await insertEvent(c, {
    jobId: job.id,
    keyId: job.keyId,
    type: event.type,
    data: event.data(job),
  });
  const message = webhook?.(job, recorded);
  if (message) await insertDelivery(c, deliveryOf(recorded, message));
  return { job, event: recorded };
}

/** Write the record and the columns copied from it, together. */
async function put(c: PgClient, job: Job): Promise<Job> {
  await c.query(
    `UPDATE jobs SET status = $2, key_id = $3, created_at = $4, attempts = $5, expires_at_ms = $6, cost = $7,
       refunded = $8, data = $9 WHERE id = $1`,
    [
      job.id,
      job.status,
      job.keyId,
      job.createdAt,
      job.attempts,
      instantMs('expiresAt', job.expiresAt),
      toHundredths(job.cost),
      job.refunded,
      JSON.stringify(job),
    ],
  );
  return job;
}

/** Debit `cost` from the key in the caller's transaction; the hundredths taken (0: unlimited or unknown key). */
async function debit(c: PgClient, keyId: string, cost: number): Promise<number> {
  const amount = toHundredths(cost);
  const { rows } = await c.query<{ credits: number | null }>(
    'SELECT credits FROM api_keys WHERE id = $1 FOR UPDATE',
    [keyId],
  );
  const credits = rows[0]?.credits ?? null;
  if (credits === null) return 0;
  if (credits < amount) {
    throw new PixeliftError('insufficient_credits', { cost, credits: fromHundredths(credits) });
  }
  await c.query('UPDATE api_keys SET credits = credits - $1 WHERE id = $2', [amount, keyId]);
  return amount;
}

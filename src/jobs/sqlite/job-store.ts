/**
 * Jobs in SQLite. Every read-then-write runs in one IMMEDIATE transaction: it takes the write
 * lock up front, so two processes on the same file (server, CLI) serialize instead of one
 * failing with SQLITE_BUSY when it tries to upgrade a read lock.
 */
import type { Statement } from 'better-sqlite3';
import { invalidArgument, PixeliftError } from '../../errors.js';
import { deliveryOf } from '../delivery-record.js';
import {
  applyPatch,
  decodeCursor,
  encodeCursor,
  type Fence,
  fenceHolds,
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
import type { SqliteDatabase } from './database.js';
import { SqliteEventLog } from './event-log.js';
import {
  claimNext,
  claimOne,
  expireResults,
  recoverRunning,
  requeueRunning,
  type Writer,
} from './job-lifecycle.js';
import { type JobRow, jobColumns, rowToJob } from './job-row.js';
import { insertDelivery } from './webhook-outbox.js';

export class SqliteJobStore implements JobStore {
  readonly #db: SqliteDatabase;
  readonly #byId: Statement<[string], JobRow>;
  readonly #byIdempotency: Statement<[string | null, string], JobRow>;
  readonly #countStatus: Statement<[JobStatus], number>;
  readonly #queuedAhead: Statement<[string], number | null>;
  readonly #countKeyQueued: Statement<[string | null], number>;
  readonly #insert: Statement<[Record<string, string | number | null>]>;
  readonly #write: Statement<[Record<string, string | number | null>]>;
  readonly #keyCredits: Statement<[string], { credits: number | null }>;
  readonly #addCredits: Statement<[number, string]>;
  readonly #events: SqliteEventLog;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#events = new SqliteEventLog(db);
    this.#byId = db.prepare('SELECT * FROM jobs WHERE id = ?');
    this.#byIdempotency = db.prepare(
      "SELECT * FROM jobs WHERE coalesce(key_id, '') = coalesce(?, '') AND idempotency_key = ?",
    );
    this.#countStatus = db.prepare('SELECT count(*) FROM jobs WHERE status = ?').pluck() as Statement<
      [JobStatus],
      number
    >;
    // An index range on jobs_status (status, seq): the jobs queued before this one.
    this.#queuedAhead = db
      .prepare(
        `SELECT CASE WHEN j.status = 'queued'
           THEN (SELECT count(*) FROM jobs q WHERE q.status = 'queued' AND q.seq < j.seq) END
         FROM jobs j WHERE j.id = ?`,
      )
      .pluck() as Statement<[string], number | null>;
    this.#countKeyQueued = db
      .prepare("SELECT count(*) FROM jobs WHERE key_id IS ? AND status = 'queued'")
      .pluck() as Statement<[string | null], number>;
    this.#insert = db.prepare(
      `INSERT INTO jobs (id, status, key_id, created_at, attempts, idempotency_key, idempotency_fingerprint,
         expires_at_ms, cost, charged, refunded, data)
       VALUES (@id, @status, @key_id, @created_at, @attempts, @idempotency_key, @idempotency_fingerprint,
         @expires_at_ms, @cost, @charged, @refunded, @data)`,
    );
    this.#write = db.prepare(
      `UPDATE jobs SET status = @status, key_id = @key_id, created_at = @created_at, attempts = @attempts,
         expires_at_ms = @expires_at_ms, cost = @cost, refunded = @refunded, data = @data
       WHERE id = @id`,
    );
    this.#keyCredits = db.prepare('SELECT credits FROM api_keys WHERE id = ?');
    this.#addCredits = db.prepare(
      'UPDATE api_keys SET credits = credits + ? WHERE id = ? AND credits IS NOT NULL',
    );
  }

  async create(job: Job, options: CreateJobOptions = {}): Promise<Created> {
    const idempotency = options.idempotency;
    return this.#immediate((): Created => {
      // Replay first: a retried request whose job was accepted must get it back, even if the
      // queue has filled or the credits have run out since.
      if (idempotency) {
        const row = this.#byIdempotency.get(job.keyId, idempotency.key);
        if (row) {
          if (row.idempotency_fingerprint !== idempotency.fingerprint) {
            throw new PixeliftError('idempotency_key_reused', { key: idempotency.key });
          }
          return { job: rowToJob(row), replayed: true };
        }
      }
      if (options.maxQueuedPerKey !== undefined) {
        const queued = this.#countKeyQueued.get(job.keyId) ?? 0;
        if (queued >= options.maxQueuedPerKey) {
          throw new PixeliftError('key_queue_full', { queued, retryAfter: QUEUE_FULL_RETRY_AFTER_S });
        }
      }
      if (options.maxQueued !== undefined) {
        const queued = this.#countStatus.get('queued') ?? 0;
        if (queued >= options.maxQueued) {
          throw new PixeliftError('queue_full', { queued, retryAfter: QUEUE_FULL_RETRY_AFTER_S });
        }
      }
      const stored = normalizeCost(job);
      const charged = options.charge && stored.keyId !== null ? this.#debit(stored.keyId, stored.cost) : 0;
      this.#insert.run({
        ...jobColumns(stored),
        idempotency_key: idempotency?.key ?? null,
        idempotency_fingerprint: idempotency?.fingerprint ?? null,
        charged,
      });
      return { replayed: false, ...this.#record(stored, moveEvent('queued'), options.webhook) };
    });
  }

  async get(id: string): Promise<Job | undefined> {
    const row = this.#byId.get(id);
    return row && rowToJob(row);
  }

  async findIdempotent(
    keyId: string | null,
    key: string,
  ): Promise<{ job: Job; fingerprint: string } | undefined> {
    const row = this.#byIdempotency.get(keyId, key);
    return row && { job: rowToJob(row), fingerprint: row.idempotency_fingerprint ?? '' };
  }

  async list(query: ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }> {
    const { limit } = query;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw invalidArgument('limit', 'an integer from 1 to 100', limit);
    }
    const where: string[] = [];
    const params: (string | number | null)[] = [];
    if (query.keyId !== undefined) {
      where.push('key_id IS ?');
      params.push(query.keyId);
    }
    if (query.status !== undefined) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.cursor !== undefined) {
      where.push('seq < ?');
      params.push(decodeCursor(query.cursor));
    }
    const filter = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    // One row past the page tells whether another page exists without a count query.
    const rows = this.#db
      .prepare<unknown[], JobRow>(`SELECT * FROM jobs ${filter} ORDER BY seq DESC LIMIT ?`)
      .all(...params, limit + 1);
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return {
      jobs: page.map(rowToJob),
      nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null,
    };
  }

  async claim(options: ClaimOptions): Promise<Recorded | undefined> {
    return this.#immediate(() => claimNext(this.#db, options, this.#writer(options.webhook)));
  }

  async claimById(id: string, options: ClaimByIdOptions): Promise<ClaimOutcome> {
    return this.#immediate(() => claimOne(this.#db, id, options, this.#writer(options.webhook)));
  }

  async update(id: string, patch: JobPatch, fence: Fence = {}): Promise<Job | undefined> {
    return this.#immediate(() => {
      const job = this.#read(id);
      if (!job || !fenceHolds(job, fence)) return undefined;
      return this.#put(applyPatch(job, patch));
    });
  }

  async transition(id: string, change: JobTransition): Promise<Recorded | undefined> {
    return this.#immediate(() => {
      const before = this.#read(id);
      if (!before || !fenceHolds(before, change.fence)) return undefined;
      return this.#move(applyPatch(before, change.patch), change.event, change.webhook, change.refund);
    });
  }

  async refund(id: string): Promise<Job | undefined> {
    return this.#immediate(() => this.#refund(id));
  }

  async recover(options: RecoverOptions): Promise<{ requeued: Job[]; failed: Recorded[] }> {
    return this.#immediate(() => recoverRunning(this.#db, options, this.#writer(options.webhook)));
  }

  async requeue(id: string, fence: { readonly attempts: number }): Promise<Job | undefined> {
    return this.#immediate(() => {
      const job = this.#read(id);
      if (!job || !fenceHolds(job, { status: 'running', attempts: fence.attempts })) return undefined;
      return this.#put(requeueRunning(job));
    });
  }

  async expire(now: Date, recording: Recording = {}): Promise<{ before: Job; event: JobEvent }[]> {
    return this.#immediate(() => expireResults(this.#db, now, this.#writer(recording.webhook)));
  }

  async delete(id: string): Promise<Job | undefined> {
    return this.#immediate(() => {
      const job = this.#read(id);
      if (!job) return undefined;
      // No foreign keys from events and deliveries: a late event for a deleted job must not make
      // the runner fail, so they are removed here instead of by cascade.
      this.#db.prepare('DELETE FROM job_events WHERE job_id = ?').run(id);
      this.#db.prepare('DELETE FROM webhook_deliveries WHERE job_id = ?').run(id);
      this.#db.prepare('DELETE FROM jobs WHERE id = ?').run(id);
      return job;
    });
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const counts = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    const rows = this.#db
      .prepare<[], { status: JobStatus; n: number }>('SELECT status, count(*) AS n FROM jobs GROUP BY status')
      .all();
    for (const { status, n } of rows) counts[status] = n;
    return counts;
  }

  async active(): Promise<{ queued: number; running: number }> {
    // Two index lookups (jobs_status): the ETA of every submission needs them, and a GROUP BY
    // over all jobs kept (a million after a busy day) costs ~50 ms on the event loop.
    return { queued: this.#countStatus.get('queued') ?? 0, running: this.#countStatus.get('running') ?? 0 };
  }

  async activeCount(keyId: string | null): Promise<{ queued: number; running: number }> {
    const rows = this.#db
      .prepare<[string | null], { status: JobStatus; n: number }>(
        `SELECT status, count(*) AS n FROM jobs
         WHERE key_id IS ? AND status IN ('queued', 'running') GROUP BY status`,
      )
      .all(keyId);
    const of = (status: JobStatus) => rows.find((r) => r.status === status)?.n ?? 0;
    return { queued: of('queued'), running: of('running') };
  }

  async queuedAhead(id: string): Promise<number | undefined> {
    return this.#queuedAhead.get(id) ?? undefined;
  }

  #immediate<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  #read(id: string): Job | undefined {
    const row = this.#byId.get(id);
    return row && rowToJob(row);
  }

  #put(job: Job): Job {
    this.#write.run(jobColumns(job));
    return job;
  }

  /** The writer of a move whose events carry the job's snapshot, inside the caller's transaction. */
  #writer(webhook: WebhookFor | undefined): Writer {
    return {
      put: (job) => this.#put(job),
      move: (job, type, refund) => this.#move(job, moveEvent(type), webhook, refund),
    };
  }

  /** Write `job`, give back its charge when `refund`, and record its event and webhook delivery. */
  #move(job: Job, event: JobTransition['event'], webhook: WebhookFor | undefined, refund = false): Recorded {
    const written = this.#put(job);
    return this.#record(refund ? this.#refund(job.id)! : written, event, webhook);
  }

  /** Record the event of `job` (as changed) and its webhook delivery, inside the caller's transaction. */
  #record(job: Job, event: JobTransition['event'], webhook: WebhookFor | undefined): Recorded {
    const recorded = this.#events.record({
      jobId: job.id,
      keyId: job.keyId,
      type: event.type,
      data: event.data(job),
    });
    const message = webhook?.(job, recorded);
    if (message) insertDelivery(this.#db, deliveryOf(recorded, message));
    return { job, event: recorded };
  }

  /** Give a charge back, inside the caller's transaction. */
  #refund(id: string): Job | undefined {
    const row = this.#byId.get(id);
    if (!row) return undefined;
    const job = rowToJob(row);
    if (job.refunded) return job;
    // Give back what was taken at creation, not the cost: a job created without a charge (or
    // while the key was unlimited) must not mint credits when it fails.
    if (row.charged > 0 && row.key_id !== null) this.#addCredits.run(row.charged, row.key_id);
    return this.#put({ ...job, refunded: true });
  }

  /** Debit `cost` credits from the key inside the caller's transaction; the hundredths taken. */
  #debit(keyId: string, cost: number): number {
    const credits = this.#keyCredits.get(keyId)?.credits ?? null;
    if (credits === null) return 0; // unlimited, or a key this store does not hold
    const amount = toHundredths(cost);
    if (credits < amount) {
      throw new PixeliftError('insufficient_credits', { cost, credits: fromHundredths(credits) });
    }
    this.#addCredits.run(-amount, keyId);
    return amount;
  }
}

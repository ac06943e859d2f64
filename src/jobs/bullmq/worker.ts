/**
 * The consuming side of the scale-out queue, inside `pixelift worker`: BullMQ hands this
 * process job ids; PostgreSQL decides whether each may run (claimById) and the JobRunner runs
 * it on the local worker pool.
 *
 * - Heartbeat: BullMQ renews each job's lock every lockMs / 2. A worker killed mid-job stops
 *   renewing; once the lock lapses, BullMQ's stalled check (in every live worker) puts the job
 *   back and another worker claims it: a takeover, attempt + 1.
 * - Fencing: every write of a run is fenced by its attempt number, so if a presumed-dead worker
 *   was only slow, its late result is refused and the job's result is committed once.
 * - Hand-back: a run that ends with the job queued again (it failed with an error the registry
 *   marks retryable, its child process crashing among them, or this worker is shutting down)
 *   fails the BullMQ job, which BullMQ retries at once: another run. The JobRunner decides, so
 *   embedded and scale-out retry by the same rule.
 */
import { type Job as BullJob, DelayedError, Worker } from 'bullmq';
import type { Logger } from '../../log.js';
import type { JobEvents } from '../events.js';
import type { JobRunner } from '../runner.js';
import type { JobStore } from '../store.js';
import { QUEUE_NAME, type QueuedJob } from './queue.js';
import type { Redis } from './redis.js';

export interface QueueWorkerOptions {
  readonly connection: Redis;
  readonly prefix: string;
  readonly jobs: JobStore;
  readonly events: JobEvents;
  readonly runner: Pick<JobRunner, 'run' | 'active'>;
  /** Jobs this process runs at once (its pool's size). */
  readonly concurrency: number;
  readonly maxRunningPerKey: number;
  readonly maxAttempts: number;
  /** Job lock, ms; renewed every half of it. */
  readonly lockMs: number;
  readonly log: Logger;
}

/** A job whose key is at its running cap waits this long before it is offered again, ms. */
const CAPPED_DELAY_MS = 1000;

/** Thrown to make BullMQ run the job again (it went back to queued). */
class HandedBack extends Error {
  constructor(id: string) {
    super(`job ${id} went back to the queue`);
    this.name = 'HandedBack';
  }
}

export class QueueWorker {
  readonly #o: QueueWorkerOptions;
  readonly #worker: Worker<QueuedJob>;

  constructor(options: QueueWorkerOptions) {
    this.#o = options;
    this.#worker = new Worker<QueuedJob>(QUEUE_NAME, (job, token) => this.#process(job, token), {
      connection: options.connection,
      prefix: options.prefix,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      // The stalled check runs as often as a lock would lapse: a dead worker's job waits at most ~2 locks.
      stalledInterval: options.lockMs,
      // PostgreSQL's attempts decide when a job has crashed too often (attempts_exhausted), not BullMQ.
      maxStalledCount: 1_000_000,
      autorun: false,
    });
    this.#worker.on('error', (err) => options.log.warn({ err }, 'queue worker: Redis error'));
  }

  start(): void {
    void this.#worker.run().catch((err: unknown) => this.#o.log.error({ err }, 'queue worker stopped'));
  }

  /** Take no more jobs; resolves when the jobs it processes have returned (stop the runner alongside). */
  close(): Promise<void> {
    return this.#worker.close();
  }

  async #process(bull: BullJob<QueuedJob>, token: string | undefined): Promise<void> {
    const { jobs, log } = this.#o;
    const id = bull.data.id;
    // A start, or a failure once out of attempts, commits with its event and webhook delivery.
    const outcome = await jobs.claimById(id, {
      maxRunningPerKey: this.#o.maxRunningPerKey,
      maxAttempts: this.#o.maxAttempts,
      now: new Date(),
      webhook: this.#o.events.webhook,
    });
    switch (outcome.kind) {
      case 'gone':
        return; // canceled, deleted or already ended: nothing to run
      case 'capped':
        await bull.moveToDelayed(Date.now() + CAPPED_DELAY_MS, token);
        throw new DelayedError();
      case 'exhausted': {
        log.error({ jobId: id, attempts: outcome.job.attempts }, 'job given up after repeated crashes');
        await this.#o.events.publish(outcome);
        return;
      }
      case 'claimed': {
        if (outcome.takeover) {
          log.warn({ jobId: id, attempt: outcome.job.attempts }, 'job taken over from a worker that stopped');
        }
        await this.#o.runner.run(outcome);
        const after = await jobs.get(id);
        if (after?.status === 'queued') throw new HandedBack(id);
        return;
      }
    }
  }
}

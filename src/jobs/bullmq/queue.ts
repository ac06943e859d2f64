/**
 * The scale-out queue (DESIGN §5): BullMQ on Redis carries job ids from API nodes to
 * `pixelift worker` processes; PostgreSQL stays the record of what each job is. So Redis may
 * lose the queue (a restart without persistence, a flush) without losing a job: the reconciler
 * puts back every job that PostgreSQL holds as queued or running and BullMQ no longer has.
 */
import { Queue } from 'bullmq';
import type { Logger } from '../../log.js';
import type { JobStatus } from '../types.js';
import type { Redis } from './redis.js';

export const QUEUE_NAME = 'jobs';

/** BullMQ's data for one Pixelift job: its id; everything else is read from PostgreSQL. */
export interface QueuedJob {
  readonly id: string;
}

/**
 * A BullMQ "failure" here only means "run it again" (a run that failed with a retryable error, a
 * worker crash among them, or a graceful stop handed the job back); PostgreSQL's attempt count
 * decides when a job has had enough.
 */
const RETRIES = 1_000_000;

/** The store's view the reconciler needs. */
export interface ActiveJobSource {
  idsWithStatus(
    statuses: readonly JobStatus[],
    limit: number,
  ): Promise<{ id: string; status: JobStatus; keyId: string | null }[]>;
}

/** BullMQ's lowest priority (priorities run 1..2^21, lower first). */
const MAX_PRIORITY = 2 ** 21;

export class JobQueue {
  readonly queue: Queue<QueuedJob>;

  constructor(
    connection: Redis,
    prefix: string,
    private readonly log: Logger,
  ) {
    this.queue = new Queue<QueuedJob>(QUEUE_NAME, { connection, prefix });
    this.queue.on('error', (err) => this.log.warn({ err }, 'queue: Redis error'));
  }

  /**
   * Make a queued job runnable. Adding an id BullMQ already holds does nothing.
   *
   * `position`: the job's place among its key's active jobs (1: its key has no other queued or running),
   * used as its BullMQ priority. BullMQ serves lower priorities first, FIFO within one, so keys
   * interleave — every key's 1st waiting job, then every key's 2nd, … — instead of one FIFO in
   * which a key that queued a thousand jobs holds all others behind them (issue 16).
   */
  async enqueue(id: string, position = 1): Promise<void> {
    await this.queue.add(
      'run',
      { id },
      {
        jobId: id,
        attempts: RETRIES,
        removeOnComplete: true,
        removeOnFail: true,
        priority: Math.min(MAX_PRIORITY, Math.max(1, Math.round(position))),
      },
    );
  }

  /**
   * Re-enqueue every queued or running job that BullMQ does not hold (or holds as finished).
   * A running job missing from BullMQ lost its lock with the queue, so its worker can no longer
   * prove it is alive: another takes it over, and attempt fencing keeps one result.
   */
  async reconcile(store: ActiveJobSource, limit = 10_000): Promise<string[]> {
    const active = await store.idsWithStatus(['queued', 'running'], limit);
    const restored: string[] = [];
    const positions = new Map<string | null, number>();
    for (const { id, keyId } of active) {
      const position = (positions.get(keyId) ?? 0) + 1;
      positions.set(keyId, position);
      const state = await this.queue.getJobState(id);
      if (state === 'waiting' || state === 'active' || state === 'delayed' || state === 'prioritized')
        continue;
      if (state === 'completed' || state === 'failed') await this.queue.remove(id);
      await this.enqueue(id, position);
      restored.push(id);
    }
    if (restored.length > 0)
      this.log.warn({ jobs: restored.length }, 'queue: re-enqueued jobs missing from Redis');
    return restored;
  }

  close(): Promise<void> {
    return this.queue.close();
  }
}

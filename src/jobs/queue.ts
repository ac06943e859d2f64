/**
 * How a stored job reaches whoever runs it, and how a cancel reaches the run (DESIGN §5): the
 * embedded runner claiming from SQLite in this process, or BullMQ carrying ids to `pixelift
 * worker` processes (jobs/bullmq/queue-port.ts). The service sees only this port.
 */
import type { Job } from './types.js';

export interface QueuePort {
  /**
   * Hands a stored, queued job to the queue. The job is already durable; if this fails the
   * reconciler (scale-out) or the runner's poll (embedded) picks it up later.
   */
  enqueue(job: Job): Promise<void>;
  /** Stops the job wherever it runs: this process's runner, or the worker that has it. */
  stop(jobId: string): Promise<void>;
}

/** Embedded: the runner in this process claims queued jobs from the store itself; enqueue only wakes it. */
export function localQueue(runner: { kick(): void; cancel(jobId: string): void }): QueuePort {
  return {
    enqueue: async () => runner.kick(),
    stop: async (jobId) => runner.cancel(jobId),
  };
}

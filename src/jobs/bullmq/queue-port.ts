/** Scale-out side of jobs/queue.ts: BullMQ carries job ids to the workers; cancels go out on the Redis fan-out. */
import type { QueuePort } from '../queue.js';
import type { JobStore } from '../store.js';
import type { RedisFanout } from './fanout.js';
import type { JobQueue } from './queue.js';

export function bullmqQueue(deps: {
  readonly queue: JobQueue;
  readonly fanout: RedisFanout;
  readonly jobs: Pick<JobStore, 'activeCount'>;
}): QueuePort {
  return {
    async enqueue(job) {
      // Its place among its key's active jobs is its BullMQ priority: keys interleave (queue.ts).
      // Running ones count: a key with one job running and one waiting puts the waiting one
      // behind another key's first.
      const active = await deps.jobs.activeCount(job.keyId);
      await deps.queue.enqueue(job.id, active.queued + active.running);
    },
    stop: (jobId) => deps.fanout.publishCancel(jobId),
  };
}

/**
 * Retention (per-job TTL): results past their expiry are deleted and their jobs become
 * `expired`; uploads past theirs are deleted. Runs on an interval in the process that owns the
 * blobs (the server, or one node in scale-out).
 */
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { JobEvents } from './events.js';
import type { JobStore, UploadStore } from './store.js';

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly o: {
      readonly jobs: JobStore;
      readonly uploads: UploadStore;
      readonly blobs: BlobStore;
      readonly events: JobEvents;
      readonly log: Logger;
      /** ms between sweeps */
      readonly intervalMs: number;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((err: unknown) => this.o.log.error({ err }, 'sweep failed'));
    }, this.o.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; returns what it removed. */
  async sweep(now = new Date()): Promise<{ results: number; uploads: number }> {
    // Each job's `expired` event and webhook delivery commit with its change of status.
    const expired = await this.o.jobs.expire(now, { webhook: this.o.events.webhook });
    for (const { before, event } of expired) {
      if (before.result) await this.o.blobs.delete(before.result.blobKey);
      await this.o.blobs.delete(before.request.inputBlob);
      await this.o.events.publish({ job: before, event });
    }
    const uploads = await this.o.uploads.expire(now);
    for (const u of uploads) await this.o.blobs.delete(u.blobKey);
    if (expired.length + uploads.length > 0) {
      this.o.log.info(
        { results: expired.length, uploads: uploads.length },
        'expired results and uploads removed',
      );
    }
    return { results: expired.length, uploads: uploads.length };
  }
}

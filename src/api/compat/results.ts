/** A finished job's result as the dialects hand it out (HTTP answers and webhook bodies alike); plain, no Fastify. */
import type { Job } from '../../jobs/types.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Presenter } from '../present.js';

/** The signed link to a finished job's file, valid as long as the result is kept (HTTP routes and webhooks alike). */
export function resultUrl(job: Job, deps: { readonly presenter: Presenter }): string | null {
  if (!job.result) return null;
  const expiresAt = job.expiresAt ?? new Date(Date.now() + 3600_000).toISOString();
  return deps.presenter.fileUrl(job.result.fileId, new Date(expiresAt));
}

export async function resultBytes(job: Job, deps: { readonly blobs: BlobStore }): Promise<Buffer | null> {
  return job.result ? deps.blobs.get(job.result.blobKey) : null;
}

/** ms from creation to the end (or to now while it runs). */
export function durationMs(job: Job): number | null {
  if (!job.startedAt && !job.finishedAt) return null;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return Math.max(0, end - Date.parse(job.createdAt));
}

/**
 * What every job store does to a Job record the same way, whatever the database: patches,
 * fences, stored cost, page cursors. Pure functions; the stores (sqlite/, postgres/) call them.
 */
import { invalidArgument, PixeliftError } from '../errors.js';
import { fromHundredths, toHundredths } from './money.js';
import type { JobPatch, JobTransition } from './store.js';
import type { Job, JobEventType, JobStatus } from './types.js';

export type Fence = { readonly status?: JobStatus | readonly JobStatus[]; readonly attempts?: number };

/** The cost as stored: rounded to hundredths, so the record says what the balance was charged. */
/** Seconds a client is told to wait after queue_full: the queue drains one job per worker at a time. */
export const QUEUE_FULL_RETRY_AFTER_S = 5;

export function normalizeCost(job: Job): Job {
  return { ...job, cost: fromHundredths(toHundredths(job.cost)) };
}

/** `patch` over `job`; keys given as undefined are ignored rather than erasing a required field. */
export function applyPatch(job: Job, patch: JobPatch): Job {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...job, ...defined };
}

/** Whether `job` still matches `fence` (status and/or attempt number). */
export function fenceHolds(job: Job, fence: Fence): boolean {
  if (fence.attempts !== undefined && job.attempts !== fence.attempts) return false;
  if (fence.status === undefined) return true;
  const allowed: readonly JobStatus[] = typeof fence.status === 'string' ? [fence.status] : fence.status;
  return allowed.includes(job.status);
}

/** Epoch ms of an ISO instant field (null stays null); the columns that queries compare hold these. */
export function instantMs(name: string, iso: string | null): number | null {
  if (iso === null) return null;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw invalidArgument(name, 'an ISO 8601 instant', iso);
  return ms;
}

/** Opaque page cursors: the seq of the last job on the page. */
export function encodeCursor(seq: number): string {
  return Buffer.from(String(seq)).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^\d{1,15}$/.test(text)) throw invalidArgument('cursor', 'a nextCursor from a previous page', cursor);
  return Number(text);
}

/** A running job put back in the queue with `attempts` counted. */
export function backToQueue(job: Job, attempts: number): Job {
  return { ...job, status: 'queued', attempts, progress: 0, etaSeconds: null, startedAt: null };
}

/** A claimed job: running, one more attempt, progress from zero. */
export function claimed(job: Job, now: Date): Job {
  return { ...job, status: 'running', attempts: job.attempts + 1, startedAt: now.toISOString(), progress: 0 };
}

/** A running job out of attempts: failed with attempts_exhausted. */
export function exhausted(job: Job, now: Date): Job {
  const error = new PixeliftError('attempts_exhausted', { attempts: job.attempts });
  return {
    ...job,
    status: 'failed',
    etaSeconds: null,
    error: { code: error.code, message: error.message },
    finishedAt: now.toISOString(),
  };
}

/**
 * A job as an event carries it: everything but its metadata, which the job and its webhooks
 * carry; copied into every event it multiplied a large object by the events of the job.
 */
export function snapshot(job: Job): Record<string, unknown> {
  const { metadata: _metadata, ...rest } = job;
  return rest as unknown as Record<string, unknown>;
}

/** The event a store move records (queued, started, failed after crashes, expired): its type, with the job's snapshot. */
export function moveEvent(type: JobEventType): JobTransition['event'] {
  return { type, data: snapshot };
}

export function checkCap(maxRunningPerKey: number): void {
  if (!Number.isInteger(maxRunningPerKey) || maxRunningPerKey < 1) {
    throw invalidArgument('maxRunningPerKey', 'positive integer', maxRunningPerKey);
  }
}

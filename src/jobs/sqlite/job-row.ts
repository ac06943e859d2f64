/**
 * A Job's row: the JSON record plus the columns copied out of it for queries. Every write goes
 * through `jobColumns`, so the copies can never disagree with the record.
 */
import { instantMs } from '../job-record.js';
import { toHundredths } from '../money.js';
import type { Job } from '../types.js';

export interface JobRow {
  readonly seq: number;
  readonly id: string;
  readonly key_id: string | null;
  readonly attempts: number;
  readonly idempotency_fingerprint: string | null;
  readonly cost: number;
  readonly charged: number;
  readonly refunded: number;
  readonly data: string;
}

export function rowToJob(row: JobRow): Job {
  return JSON.parse(row.data) as Job;
}

/** Named parameters for the columns a write sets, derived from the job alone. */
export function jobColumns(job: Job): Record<string, string | number | null> {
  return {
    id: job.id,
    status: job.status,
    key_id: job.keyId,
    created_at: job.createdAt,
    attempts: job.attempts,
    expires_at_ms: instantMs('expiresAt', job.expiresAt),
    cost: toHundredths(job.cost),
    refunded: job.refunded ? 1 : 0,
    data: JSON.stringify(job),
  };
}

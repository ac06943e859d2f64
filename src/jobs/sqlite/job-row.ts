/**
 * A Job's row: the JSON record plus the columns copied out of it for queries. Every write goes
 * through `jobColumns`, so the copies can never disagree with the record.
 */
import { invalidArgument } from '../../errors.js';
import type { JobPatch } from '../store.js';
import type { Job } from '../types.js';
import { fromHundredths, toHundredths } from './money.js';

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

/** The cost as stored: rounded to hundredths, so the record says what the balance was charged. */
export function normalizeCost(job: Job): Job {
  return { ...job, cost: fromHundredths(toHundredths(job.cost)) };
}

/** `patch` over `job`; keys given as undefined are ignored rather than erasing a required field. */
export function applyPatch(job: Job, patch: JobPatch): Job {
  const defined = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  return { ...job, ...defined };
}

function instantMs(name: string, iso: string | null): number | null {
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

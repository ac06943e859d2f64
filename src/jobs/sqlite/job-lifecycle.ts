/**
 * The state moves that touch many jobs or pick one by rule: claim, crash recovery, requeue after
 * a graceful stop, result expiry. Each runs inside the job store's IMMEDIATE transaction and
 * writes through its `Writer`, which keeps the indexed columns and the JSON record in step and
 * records each change's event (and webhook delivery) in the same transaction.
 */

import { backToQueue, checkCap, claimed, exhausted } from '../job-record.js';
import type { ClaimByIdOptions, ClaimOptions, ClaimOutcome, Recorded } from '../store.js';
import type { Job, JobEvent, JobEventType } from '../types.js';
import type { SqliteDatabase } from './database.js';
import { type JobRow, rowToJob } from './job-row.js';

/** How a move writes, inside the job store's transaction. */
export interface Writer {
  /** Write the record alone (a requeue, which makes no event). */
  put(job: Job): Job;
  /** Write the record, give back its charge when `refund`, and record its `type` event with its webhook delivery. */
  move(job: Job, type: JobEventType, refund?: boolean): Recorded;
}

/**
 * Round-robin between keys (issue 16: one FIFO let a key that queued 1,000 jobs hold every
 * other key back behind them): of each key's oldest queued job, the one whose key's last turn
 * (queue_turns) is oldest, a key never served first, ties by seq. Keys at `maxRunningPerKey`
 * running jobs are skipped; open-mode jobs (NULL key) share one allowance, as `IS` matches NULLs.
 */
export function claimNext(db: SqliteDatabase, options: ClaimOptions, w: Writer): Recorded | undefined {
  checkCap(options.maxRunningPerKey);
  const row = db
    .prepare<[number], JobRow>(
      `WITH heads AS (SELECT key_id, min(seq) AS seq FROM jobs WHERE status = 'queued' GROUP BY key_id)
       SELECT q.* FROM heads h
         JOIN jobs q ON q.seq = h.seq
         LEFT JOIN queue_turns t ON t.key = coalesce(h.key_id, '')
       WHERE (SELECT count(*) FROM jobs r WHERE r.status = 'running' AND r.key_id IS h.key_id) < ?
       ORDER BY coalesce(t.turn, 0), h.seq LIMIT 1`,
    )
    .get(options.maxRunningPerKey);
  if (!row) return undefined;
  takeTurn(db, row.key_id);
  return w.move(claimed(rowToJob(row), options.now), 'started');
}

/** Record that `keyId` was served: its turn becomes the newest. */
export function takeTurn(db: SqliteDatabase, keyId: string | null): void {
  db.prepare(
    `INSERT INTO queue_turns (key, turn) VALUES (?, (SELECT coalesce(max(turn), 0) + 1 FROM queue_turns))
     ON CONFLICT (key) DO UPDATE SET turn = excluded.turn`,
  ).run(keyId ?? '');
}

/** One named job for a run (the scale-out queue's way in; see JobStore.claimById). */
export function claimOne(db: SqliteDatabase, id: string, options: ClaimByIdOptions, w: Writer): ClaimOutcome {
  checkCap(options.maxRunningPerKey);
  const row = db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?').get(id);
  const job = row && rowToJob(row);
  if (!job || (job.status !== 'queued' && job.status !== 'running')) return { kind: 'gone', job };
  if (job.status === 'running') {
    if (job.attempts >= options.maxAttempts)
      return { kind: 'exhausted', ...w.move(exhausted(job, options.now), 'failed', true) };
    return { kind: 'claimed', takeover: true, ...w.move(claimed(job, options.now), 'started') };
  }
  const running = db
    .prepare<[string | null], number>("SELECT count(*) FROM jobs WHERE status = 'running' AND key_id IS ?")
    .pluck()
    .get(job.keyId)!;
  if (running >= options.maxRunningPerKey) return { kind: 'capped' };
  takeTurn(db, job.keyId);
  return { kind: 'claimed', takeover: false, ...w.move(claimed(job, options.now), 'started') };
}

/** After a crash nothing is running: each `running` job is requeued, or failed (and refunded) once out of attempts. */
export function recoverRunning(
  db: SqliteDatabase,
  options: { readonly maxAttempts: number; readonly now: Date },
  w: Writer,
): { requeued: Job[]; failed: Recorded[] } {
  const rows = db.prepare<[], JobRow>("SELECT * FROM jobs WHERE status = 'running' ORDER BY seq").all();
  const requeued: Job[] = [];
  const failed: Recorded[] = [];
  for (const job of rows.map(rowToJob)) {
    if (job.attempts < options.maxAttempts) {
      requeued.push(w.put(backToQueue(job, job.attempts)));
      continue;
    }
    failed.push(w.move(exhausted(job, options.now), 'failed', true));
  }
  return { requeued, failed };
}

/** A graceful stop is not the job's fault: the attempt it was on is given back. */
export function requeueRunning(job: Job): Job {
  return backToQueue(job, Math.max(0, job.attempts - 1));
}

/**
 * Succeeded jobs past expiresAt that still hold a result: status expired, result null, each with
 * its `expired` event. Returns them as they were before, because the caller needs
 * `result.blobKey` to delete the file. Failed and canceled jobs hold no result, so they keep
 * their status.
 */
export function expireResults(db: SqliteDatabase, now: Date, w: Writer): { before: Job; event: JobEvent }[] {
  const rows = db
    .prepare<[number], JobRow>(
      `SELECT * FROM jobs WHERE status = 'succeeded' AND expires_at_ms <= ?
         AND json_extract(data, '$.result') IS NOT NULL
       ORDER BY seq`,
    )
    .all(now.getTime());
  return rows.map(rowToJob).map((before) => ({
    before,
    event: w.move({ ...before, status: 'expired', result: null }, 'expired').event,
  }));
}

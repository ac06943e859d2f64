/**
 * Webhook deliveries as an outbox: a delivery row is written in the transaction that records its
 * event (and the job's change of state, JobStore.transition); a dispatcher sends it later. A claim leases a row by pushing its next attempt past
 * the lease, so a second dispatcher (or the same one on its next tick) does not send it twice
 * while the first is still waiting on the receiver; if the first dies, the lease simply lapses.
 */
import type { Statement } from 'better-sqlite3';
import { invalidArgument } from '../../errors.js';
import {
  failingSince,
  newDeliveryId,
  rowToDelivery,
  type DeliveryRow as SharedRow,
  stateAfter,
} from '../delivery-record.js';
import type {
  DeliveryAttempt,
  DeliveryOutcome,
  NewDelivery,
  WebhookDelivery,
  WebhookOutbox,
} from '../store.js';
import type { SqliteDatabase } from './database.js';

type DeliveryRow = SharedRow<string>;

export class SqliteWebhookOutbox implements WebhookOutbox {
  readonly #db: SqliteDatabase;
  readonly #byId: Statement<[string], DeliveryRow>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#byId = db.prepare('SELECT * FROM webhook_deliveries WHERE id = ?');
  }

  async enqueue(delivery: NewDelivery): Promise<WebhookDelivery> {
    return this.#get(insertDelivery(this.#db, delivery))!;
  }

  async claimDue(options: {
    readonly now: Date;
    readonly limit: number;
    readonly leaseMs: number;
  }): Promise<WebhookDelivery[]> {
    const { now, limit, leaseMs } = options;
    if (!Number.isInteger(limit) || limit < 1) throw invalidArgument('limit', 'positive integer', limit);
    if (!Number.isFinite(leaseMs) || leaseMs <= 0)
      throw invalidArgument('leaseMs', 'positive number', leaseMs);
    const claim = this.#db.transaction(() => {
      const rows = this.#db
        .prepare<[number, number], DeliveryRow>(
          `SELECT * FROM webhook_deliveries d
           WHERE status = 'pending' AND next_attempt_at_ms <= ?
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                             WHERE e.job_id = d.job_id AND e.url = d.url AND e.status = 'pending' AND e.seq < d.seq)
           ORDER BY seq LIMIT ?`,
        )
        .all(now.getTime(), limit);
      const lease = this.#db.prepare('UPDATE webhook_deliveries SET next_attempt_at_ms = ? WHERE id = ?');
      const until = now.getTime() + leaseMs;
      return rows.map((row) => {
        lease.run(until, row.id);
        return toDelivery({ ...row, next_attempt_at_ms: until });
      });
    });
    return claim.immediate();
  }

  async recordAttempt(
    id: string,
    attempt: DeliveryAttempt,
    outcome: DeliveryOutcome,
  ): Promise<WebhookDelivery | undefined> {
    const record = this.#db.transaction(() => {
      const row = this.#byId.get(id);
      if (!row) return undefined;
      const attempts = [...(JSON.parse(row.attempts) as DeliveryAttempt[]), attempt];
      const { status, next } = stateAfter(outcome);
      this.#db
        .prepare(
          'UPDATE webhook_deliveries SET attempts = ?, status = ?, next_attempt_at_ms = ? WHERE id = ?',
        )
        .run(JSON.stringify(attempts), status, next, id);
      return this.#get(id);
    });
    return record.immediate();
  }

  async list(jobId: string): Promise<WebhookDelivery[]> {
    return this.#db
      .prepare<[string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE job_id = ? ORDER BY seq')
      .all(jobId)
      .map(toDelivery);
  }

  async get(id: string): Promise<WebhookDelivery | undefined> {
    return this.#get(id);
  }

  async endpointFailingSince(url: string): Promise<string | null> {
    const row = this.#db
      .prepare<[string], DeliveryRow>(
        `SELECT * FROM webhook_deliveries WHERE url = ? AND status IN ('delivered', 'failed')
         ORDER BY seq DESC LIMIT 1`,
      )
      .get(url);
    return row ? failingSince(toDelivery(row)) : null;
  }

  async pendingCount(): Promise<number> {
    return this.#db
      .prepare<[], number>("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")
      .pluck()
      .get()!;
  }

  #get(id: string): WebhookDelivery | undefined {
    const row = this.#byId.get(id);
    return row && toDelivery(row);
  }
}

/** Queue a delivery, inside the caller's transaction when there is one; its id. */
export function insertDelivery(db: SqliteDatabase, delivery: NewDelivery): string {
  const id = newDeliveryId();
  db.prepare(
    `INSERT INTO webhook_deliveries (id, job_id, event_type, url, message_id, payload, scheme, status,
       attempts, next_attempt_at_ms, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', '[]', ?, ?)`,
  ).run(
    id,
    delivery.jobId,
    delivery.eventType,
    delivery.url,
    delivery.messageId,
    delivery.payload,
    delivery.scheme,
    delivery.now.getTime(),
    delivery.now.toISOString(),
  );
  return id;
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return rowToDelivery(row, JSON.parse(row.attempts) as DeliveryAttempt[]);
}

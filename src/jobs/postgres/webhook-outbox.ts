/**
 * The webhook outbox in PostgreSQL. Every API node runs a dispatcher over it; a claim leases
 * rows with FOR UPDATE SKIP LOCKED and pushes their next attempt past the lease in the same
 * statement, so each due delivery goes to exactly one node, and back to the pool if that node
 * dies before recording the attempt.
 */
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
import type { PgPool, Queryable } from './database.js';

interface DeliveryRow extends SharedRow<DeliveryAttempt[]> {
  readonly seq: number;
}

export class PostgresWebhookOutbox implements WebhookOutbox {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async enqueue(delivery: NewDelivery): Promise<WebhookDelivery> {
    return insertDelivery(this.#pool, delivery);
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
    const { rows } = await this.#pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET next_attempt_at_ms = $3
       WHERE seq IN (
         SELECT seq FROM webhook_deliveries d
         WHERE status = 'pending' AND next_attempt_at_ms <= $1
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                           WHERE e.job_id = d.job_id AND e.url = d.url AND e.status = 'pending' AND e.seq < d.seq)
         ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
       RETURNING *`,
      [now.getTime(), limit, now.getTime() + leaseMs],
    );
    return rows.sort((a, b) => a.seq - b.seq).map(toDelivery);
  }

  async recordAttempt(
    id: string,
    attempt: DeliveryAttempt,
    outcome: DeliveryOutcome,
  ): Promise<WebhookDelivery | undefined> {
    const { status, next } = stateAfter(outcome);
    const { rows } = await this.#pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET attempts = attempts || $2::jsonb, status = $3, next_attempt_at_ms = $4
       WHERE id = $1 RETURNING *`,
      [id, JSON.stringify([attempt]), status, next],
    );
    return rows[0] && toDelivery(rows[0]);
  }

  async list(jobId: string): Promise<WebhookDelivery[]> {
    const { rows } = await this.#pool.query<DeliveryRow>(
      'SELECT * FROM webhook_deliveries WHERE job_id = $1 ORDER BY seq',
      [jobId],
    );
    return rows.map(toDelivery);
  }

  async get(id: string): Promise<WebhookDelivery | undefined> {
    const { rows } = await this.#pool.query<DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = $1', [
      id,
    ]);
    return rows[0] && toDelivery(rows[0]);
  }

  async endpointFailingSince(url: string): Promise<string | null> {
    const { rows } = await this.#pool.query<DeliveryRow>(
      `SELECT * FROM webhook_deliveries WHERE url = $1 AND status IN ('delivered', 'failed')
       ORDER BY seq DESC LIMIT 1`,
      [url],
    );
    return rows[0] ? failingSince(toDelivery(rows[0])) : null;
  }

  async pendingCount(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: number }>(
      "SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'",
    );
    return rows[0]?.n ?? 0;
  }
}

/** Queue a delivery on `db` (a transaction's client, or the pool). */
export async function insertDelivery(db: Queryable, delivery: NewDelivery): Promise<WebhookDelivery> {
  const { rows } = await db.query<DeliveryRow>(
    `INSERT INTO webhook_deliveries (id, job_id, event_type, url, message_id, payload, scheme, status,
       attempts, next_attempt_at_ms, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', '[]', $8, $9) RETURNING *`,
    [
      newDeliveryId(),
      delivery.jobId,
      delivery.eventType,
      delivery.url,
      delivery.messageId,
      delivery.payload,
      delivery.scheme,
      delivery.now.getTime(),
      delivery.now.toISOString(),
    ],
  );
  return toDelivery(rows[0]!);
}

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return rowToDelivery(row, row.attempts);
}

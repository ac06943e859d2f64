/**
 * The job event log in PostgreSQL. Ids come from a bigserial, so they only grow and are never
 * reused: an SSE client resuming with `Last-Event-ID` on any API node gets what came after.
 */
import { invalidArgument } from '../../errors.js';
import { EVENT_PAGE, type EventLog, type EventQuery } from '../store.js';
import type { JobEvent, JobEventType } from '../types.js';
import type { PgPool, Queryable } from './database.js';

interface EventRow {
  readonly id: number;
  readonly job_id: string;
  readonly key_id: string | null;
  readonly type: JobEventType;
  readonly data: Record<string, unknown>;
  readonly created_at: string;
}

export class PostgresEventLog implements EventLog {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async append(
    event: Omit<JobEvent, 'id' | 'createdAt'> & { readonly createdAt?: string },
  ): Promise<JobEvent> {
    return insertEvent(this.#pool, event);
  }

  async since(query: EventQuery): Promise<JobEvent[]> {
    const limit = query.limit ?? EVENT_PAGE;
    if (!Number.isInteger(limit) || limit < 1) throw invalidArgument('limit', 'positive integer', limit);
    const where = ['id > $1'];
    const params: (string | number | null)[] = [query.afterId];
    if (query.jobId !== undefined) {
      params.push(query.jobId);
      where.push(`job_id = $${params.length}`);
    }
    if (query.keyId !== undefined) {
      params.push(query.keyId);
      where.push(`key_id IS NOT DISTINCT FROM $${params.length}`);
    }
    params.push(limit);
    const { rows } = await this.#pool.query<EventRow>(
      `SELECT * FROM job_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT $${params.length}`,
      params,
    );
    return rows.map((r) => ({
      id: r.id,
      jobId: r.job_id,
      keyId: r.key_id,
      type: r.type,
      data: r.data,
      createdAt: r.created_at,
    }));
  }
}

/** Insert an event on `db` (a transaction's client, or the pool). */
export async function insertEvent(
  db: Queryable,
  event: Omit<JobEvent, 'id' | 'createdAt'> & { readonly createdAt?: string },
): Promise<JobEvent> {
  const createdAt = event.createdAt ?? new Date().toISOString();
  const { rows } = await db.query<{ id: number }>(
    'INSERT INTO job_events (job_id, key_id, type, data, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id',
    [event.jobId, event.keyId, event.type, JSON.stringify(event.data), createdAt],
  );
  return {
    id: rows[0]!.id,
    jobId: event.jobId,
    keyId: event.keyId,
    type: event.type,
    // As a reader gets it back: JSON, with what JSON cannot hold dropped.
    data: JSON.parse(JSON.stringify(event.data)) as Record<string, unknown>,
    createdAt,
  };
}

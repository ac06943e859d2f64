/**
 * The job event log. Ids come from an AUTOINCREMENT column, so they only grow, even across
 * deletes: an SSE client resuming with `Last-Event-ID` never sees an id reused for another event.
 */
import type { Statement } from 'better-sqlite3';
import { invalidArgument } from '../../errors.js';
import { EVENT_PAGE, type EventLog, type EventQuery } from '../store.js';
import type { JobEvent, JobEventType } from '../types.js';
import type { SqliteDatabase } from './database.js';

interface EventRow {
  readonly id: number;
  readonly job_id: string;
  readonly key_id: string | null;
  readonly type: JobEventType;
  readonly data: string;
  readonly created_at: string;
}

export class SqliteEventLog implements EventLog {
  readonly #db: SqliteDatabase;
  readonly #insert: Statement<[string, string | null, JobEventType, string, string]>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#insert = db.prepare(
      'INSERT INTO job_events (job_id, key_id, type, data, created_at) VALUES (?, ?, ?, ?, ?)',
    );
  }

  async append(
    event: Omit<JobEvent, 'id' | 'createdAt'> & { readonly createdAt?: string },
  ): Promise<JobEvent> {
    return this.record(event);
  }

  /** Insert an event, inside the caller's transaction when there is one. */
  record(event: Omit<JobEvent, 'id' | 'createdAt'> & { readonly createdAt?: string }): JobEvent {
    const createdAt = event.createdAt ?? new Date().toISOString();
    const info = this.#insert.run(
      event.jobId,
      event.keyId,
      event.type,
      JSON.stringify(event.data),
      createdAt,
    );
    return {
      id: Number(info.lastInsertRowid),
      jobId: event.jobId,
      keyId: event.keyId,
      type: event.type,
      data: event.data,
      createdAt,
    };
  }

  async since(query: EventQuery): Promise<JobEvent[]> {
    const limit = query.limit ?? EVENT_PAGE;
    if (!Number.isInteger(limit) || limit < 1) throw invalidArgument('limit', 'positive integer', limit);
    const where = ['id > ?'];
    const params: (string | number | null)[] = [query.afterId];
    if (query.jobId !== undefined) {
      where.push('job_id = ?');
      params.push(query.jobId);
    }
    if (query.keyId !== undefined) {
      where.push('key_id IS ?');
      params.push(query.keyId);
    }
    const rows = this.#db
      .prepare<unknown[], EventRow>(
        `SELECT * FROM job_events WHERE ${where.join(' AND ')} ORDER BY id LIMIT ?`,
      )
      .all(...params, limit);
    return rows.map((r) => ({
      id: r.id,
      jobId: r.job_id,
      keyId: r.key_id,
      type: r.type,
      data: JSON.parse(r.data) as Record<string, unknown>,
      createdAt: r.created_at,
    }));
  }
}

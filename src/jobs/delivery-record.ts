/**
 * What the SQLite and PostgreSQL webhook outboxes share: the row's shape, the row → delivery
 * mapping, an event's delivery, and the state an attempt's outcome leads to. Only the storage of `attempts` differs
 * (TEXT holding JSON in SQLite, jsonb in PostgreSQL), so it is a type parameter.
 */
import { randomUUID } from 'node:crypto';
import type {
  DeliveryAttempt,
  DeliveryOutcome,
  DeliveryStatus,
  NewDelivery,
  WebhookDelivery,
  WebhookMessage,
} from './store.js';
import type { JobEvent, JobEventType } from './types.js';

export interface DeliveryRow<Attempts> {
  readonly id: string;
  readonly job_id: string;
  readonly event_type: JobEventType;
  readonly url: string;
  readonly message_id: string;
  readonly payload: string;
  readonly scheme: string;
  readonly status: DeliveryStatus;
  readonly attempts: Attempts;
  readonly next_attempt_at_ms: number | null;
  readonly created_at: string;
}

export function rowToDelivery(
  row: DeliveryRow<unknown>,
  attempts: readonly DeliveryAttempt[],
): WebhookDelivery {
  return {
    id: row.id,
    jobId: row.job_id,
    eventType: row.event_type,
    url: row.url,
    messageId: row.message_id,
    payload: row.payload,
    scheme: row.scheme,
    status: row.status,
    attempts,
    nextAttemptAt: row.next_attempt_at_ms === null ? null : new Date(row.next_attempt_at_ms).toISOString(),
    createdAt: row.created_at,
  };
}

/** ok → delivered; not ok with a next time → pending until then; not ok and no next → failed. */
export function stateAfter(outcome: DeliveryOutcome): { status: DeliveryStatus; next: number | null } {
  if (outcome.ok) return { status: 'delivered', next: null };
  if (outcome.next === null) return { status: 'failed', next: null };
  return { status: 'pending', next: outcome.next.getTime() };
}

/** A finished delivery that failed marks its endpoint failing from its last attempt on. */
export function failingSince(latestFinished: WebhookDelivery): string | null {
  if (latestFinished.status !== 'failed') return null;
  return latestFinished.attempts.at(-1)?.at ?? latestFinished.createdAt;
}

/** Unique id of a delivery row (a redelivery gets a new one; its message id stays). */
export function newDeliveryId(): string {
  return `whd_${randomUUID().replaceAll('-', '')}`;
}

/** The delivery of an event's webhook message, due when the event happened. */
export function deliveryOf(event: JobEvent, message: WebhookMessage): NewDelivery {
  return { ...message, jobId: event.jobId, eventType: event.type, now: new Date(event.createdAt) };
}

/**
 * WebhookOutbox in a Map, for unit tests of the dispatcher. It keeps the interface's contract
 * (claims lease, recordAttempt decides the status) and nothing else; the SQLite outbox has its
 * own integration tests.
 */
import { failingSince } from '../../src/jobs/delivery-record.js';
import type { DeliveryAttempt, WebhookDelivery, WebhookOutbox } from '../../src/jobs/store.js';

export class MemoryOutbox implements WebhookOutbox {
  readonly deliveries = new Map<string, WebhookDelivery>();
  /** Every recordAttempt call, in order. */
  readonly recorded: { id: string; attempt: DeliveryAttempt; ok: boolean; next: Date | null }[] = [];
  /** claimDue calls made; set `failClaims` to make the next ones reject. */
  claims = 0;
  failClaims = 0;
  private seq = 0;

  async enqueue(d: Parameters<WebhookOutbox['enqueue']>[0]): Promise<WebhookDelivery> {
    const { now, ...fields } = d;
    const delivery: WebhookDelivery = {
      ...fields,
      id: `whd_${++this.seq}`,
      status: 'pending',
      attempts: [],
      nextAttemptAt: now.toISOString(),
      createdAt: now.toISOString(),
    };
    this.deliveries.set(delivery.id, delivery);
    return delivery;
  }

  async claimDue(options: { now: Date; limit: number; leaseMs: number }): Promise<WebhookDelivery[]> {
    this.claims++;
    if (this.failClaims > 0) {
      this.failClaims--;
      throw new Error('database is locked');
    }
    const { now, limit, leaseMs } = options;
    const all = [...this.deliveries.values()];
    const due = all
      .filter(
        (d, i) =>
          d.status === 'pending' &&
          d.nextAttemptAt !== null &&
          Date.parse(d.nextAttemptAt) <= now.getTime() &&
          // Per job and URL in order, as the real outboxes.
          !all.slice(0, i).some((e) => e.jobId === d.jobId && e.url === d.url && e.status === 'pending'),
      )
      .slice(0, limit);
    const leasedUntil = new Date(now.getTime() + leaseMs).toISOString();
    return due.map((d) => {
      const leased = { ...d, nextAttemptAt: leasedUntil };
      this.deliveries.set(d.id, leased);
      return leased;
    });
  }

  async recordAttempt(
    id: string,
    attempt: DeliveryAttempt,
    outcome: { ok: boolean; next: Date | null },
  ): Promise<WebhookDelivery | undefined> {
    this.recorded.push({ id, attempt, ...outcome });
    const d = this.deliveries.get(id);
    if (d === undefined) return undefined;
    const status = outcome.ok ? 'delivered' : outcome.next === null ? 'failed' : 'pending';
    const updated: WebhookDelivery = {
      ...d,
      status,
      attempts: [...d.attempts, attempt],
      nextAttemptAt: status === 'pending' ? (outcome.next?.toISOString() ?? null) : null,
    };
    this.deliveries.set(id, updated);
    return updated;
  }

  async list(jobId: string): Promise<WebhookDelivery[]> {
    return [...this.deliveries.values()].filter((d) => d.jobId === jobId);
  }

  async get(id: string): Promise<WebhookDelivery | undefined> {
    return this.deliveries.get(id);
  }

  async endpointFailingSince(url: string): Promise<string | null> {
    const finished = [...this.deliveries.values()].filter(
      (d) => d.url === url && (d.status === 'delivered' || d.status === 'failed'),
    );
    const last = finished.at(-1);
    return last ? failingSince(last) : null;
  }

  async pendingCount(): Promise<number> {
    return [...this.deliveries.values()].filter((d) => d.status === 'pending').length;
  }
}

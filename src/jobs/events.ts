/**
 * Everything that happens to a job becomes one event: appended to the event log (so that SSE
 * clients can resume with Last-Event-ID), published on the in-process bus (live SSE streams,
 * `Prefer: wait`; in scale-out through Redis to every node's bus), and, when the job's webhook subscribed to it, queued in the webhook outbox
 * in the transaction that appends it (and, through `transition`, that changes the job's status).
 * What a webhook body looks like is the dialect's business: each gives a formatter (api/webhooks),
 * all of them handed over at construction, so that none is found missing only when an event fires.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { applyPatch } from './job-record.js';
import type { EventLog, JobStore, JobTransition, WebhookFor, WebhookMessage } from './store.js';
import type { Job, JobEvent, JobEventType } from './types.js';

/**
 * Builds the webhook message a dialect sends for an event, or undefined to send none. `format`
 * runs inside the transaction that records the event (and the job's change), so it is
 * synchronous; what it must read first (a result to inline) `prepare` reads, before.
 */
export interface WebhookFormatter {
  readonly prepare?: (job: Job) => Promise<unknown>;
  readonly format: (job: Job, event: JobEvent, prepared: unknown) => WebhookMessage | undefined;
}

export interface JobBusEvents {
  event: [event: JobEvent];
}

/**
 * Carries events between processes (scale-out: Redis pub/sub). With one, an event reaches the
 * local bus only by coming back from it, so every node (the emitting one included) sees every
 * event once, in the order it was published.
 */
export interface EventFanout {
  publishEvent(event: JobEvent): Promise<void>;
  onEvent(fn: (event: JobEvent) => void): void;
}

export class JobEvents {
  /** Live events of every job; subscribers filter. */
  readonly bus = new EventEmitter<JobBusEvents>();

  constructor(
    private readonly deps: {
      readonly log: EventLog;
      /** Records a job's change with its event and webhook delivery, in one transaction. */
      readonly jobs: Pick<JobStore, 'transition'>;
      /** Wakes the webhook dispatcher after a delivery is queued. */
      readonly kickWebhooks: () => void;
      readonly logger: Logger;
      readonly fanout?: EventFanout;
      /** Dialect name (`native`, `runflow`, …) → the formatter of its jobs' webhook bodies. */
      readonly formatters: Readonly<Record<string, WebhookFormatter>>;
    },
  ) {
    // One listener per open SSE stream and per waiting request.
    this.bus.setMaxListeners(0);
    deps.fanout?.onEvent((e) => this.bus.emit('event', e));
  }

  /** Record an event of `job` (its change of state already stored) and queue its webhook, together. */
  async emit(job: Job, type: JobEventType, data?: Record<string, unknown>): Promise<JobEvent> {
    const webhook = await this.webhookFor(job, type);
    const event = await this.deps.log.append(
      { jobId: job.id, keyId: job.keyId, type, data: data ?? snapshot(job) },
      webhook && { job, message: webhook },
    );
    await this.published(event, webhook !== undefined);
    return event;
  }

  /**
   * Change a job (if it still matches `fence`) and record the event the change makes with its
   * webhook, in one transaction (JobStore.transition). The changed job, or undefined when the
   * fence failed and nothing was written.
   */
  async transition(
    job: Job,
    change: Pick<JobTransition, 'patch' | 'fence' | 'refund'>,
    type: JobEventType,
    data?: Record<string, unknown>,
  ): Promise<Job | undefined> {
    const webhook = await this.webhookFor(applyPatch(job, change.patch), type);
    const done = await this.deps.jobs.transition(job.id, {
      ...change,
      event: { type, data: (changed) => data ?? snapshot(changed) },
      webhook,
    });
    if (!done) return undefined;
    await this.published(done.event, webhook !== undefined);
    return done.job;
  }

  /** The webhook message maker for an event of `job`, its formatter's inputs read; undefined: none. */
  private async webhookFor(job: Job, type: JobEventType): Promise<WebhookFor | undefined> {
    const hook = job.request.webhook;
    if (!hook || !(hook.events.includes(type) || job.request.dialect !== 'native')) return undefined;
    const formatter = Object.hasOwn(this.deps.formatters, job.request.dialect)
      ? this.deps.formatters[job.request.dialect]
      : undefined;
    // Boot checks every mounted dialect has one; a job of a dialect this build does not know
    // (a row written by another version) is told, not skipped in silence.
    if (!formatter) {
      this.deps.logger.error(
        { jobId: job.id, dialect: job.request.dialect, event: type },
        'events: no webhook formatter for this dialect; no webhook sent',
      );
      return undefined;
    }
    const prepared = await formatter.prepare?.(job);
    return (changed, event) => formatter.format(changed, event, prepared);
  }

  /** Tell live listeners about a recorded event, and wake the dispatcher when it may have queued a delivery. */
  private async published(event: JobEvent, queued: boolean): Promise<void> {
    if (this.deps.fanout) {
      // A lost publish costs live listeners one update, never the record: it is in the log.
      await this.deps.fanout
        .publishEvent(event)
        .catch((err: unknown) =>
          this.deps.logger.warn({ err, jobId: event.jobId }, 'events: publish failed'),
        );
    } else {
      this.bus.emit('event', event);
    }
    if (queued) this.deps.kickWebhooks();
  }

  /** Resolves with the job's first event matching `until`, or undefined after `timeoutMs` or on `signal`. */
  waitFor(
    jobId: string,
    until: (e: JobEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<JobEvent | undefined> {
    return new Promise((resolve) => {
      const done = (e: JobEvent | undefined) => {
        clearTimeout(timer);
        this.bus.off('event', onEvent);
        signal?.removeEventListener('abort', onAbort);
        resolve(e);
      };
      const onAbort = () => done(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      const onEvent = (e: JobEvent) => {
        if (e.jobId === jobId && until(e)) done(e);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      this.bus.on('event', onEvent);
    });
  }
}

/**
 * A job as an event carries it: everything but its metadata, which the job and its webhooks
 * carry; copied into every event it multiplied a large object by the events of the job.
 */
export function snapshot(job: Job): Record<string, unknown> {
  const { metadata: _metadata, ...rest } = job;
  return rest as unknown as Record<string, unknown>;
}

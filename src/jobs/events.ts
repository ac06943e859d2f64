/**
 * Everything that happens to a job becomes one event: recorded by the job store in the
 * transaction that changes the job (so that SSE clients can resume with Last-Event-ID), with its
 * webhook delivery when the job's webhook subscribed to it (the outbox row commits with the change
 * or not at all), then published on the in-process bus (live SSE streams, `Prefer: wait`; in
 * scale-out through Redis to every node's bus).
 * What a webhook body looks like is the dialect's business: each gives a formatter (api/webhooks),
 * all of them handed over at construction, so that none is found missing only when an event fires.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import { applyPatch, snapshot } from './job-record.js';
import type { JobStore, JobTransition, Recorded, WebhookFor, WebhookMessage } from './store.js';
import type { Job, JobEvent, JobEventType } from './types.js';

/**
 * Builds the webhook message a dialect sends for an event, or undefined to send none. `format`
 * runs inside the transaction that records the event and the job's change, so it is synchronous;
 * what it must read first `prepare` reads, before. Only a result is worth reading ahead (inlined
 * in a body), so `prepare` runs for a job that holds one and `format` gets undefined otherwise:
 * the store moves that pick their jobs inside the transaction (claim, recover, expire) can format
 * their events, whose jobs hold none.
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

  /**
   * The webhook message of an event that a store move records (create, claim, claimById,
   * recover, expire: `Recording.webhook`); the store calls it inside the move's transaction.
   * Those moves' jobs hold no result, so there is nothing to `prepare`.
   */
  readonly webhook: WebhookFor = (job, event) => {
    const formatter = this.formatterFor(job, event.type);
    if (!formatter) return undefined;
    if (formatter.prepare && job.result) {
      // No move makes an event of a job that holds a result; one that did would send a body
      // without what `prepare` reads. Refused, so that the move rolls back and says so.
      throw new Error(
        `events: the ${event.type} event of ${job.id} needs a prepared webhook; record it with transition()`,
      );
    }
    return formatter.format(job, event, undefined);
  };

  constructor(
    private readonly deps: {
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

  /**
   * Change a job (if it still matches `fence`) and record the event the change makes with its
   * webhook, in one transaction (JobStore.transition), then publish it. The changed job, or
   * undefined when the fence failed and nothing was written.
   */
  async transition(
    job: Job,
    change: Pick<JobTransition, 'patch' | 'fence' | 'refund'>,
    type: JobEventType,
    data?: Record<string, unknown>,
  ): Promise<Job | undefined> {
    const webhook = await this.prepared(applyPatch(job, change.patch), type);
    const done = await this.deps.jobs.transition(job.id, {
      ...change,
      event: { type, data: (changed) => data ?? snapshot(changed) },
      webhook,
    });
    if (!done) return undefined;
    await this.publish(done);
    return done.job;
  }

  /**
   * Tell live listeners about an event the store recorded (through the fanout in scale-out), and
   * wake the dispatcher when the job has a webhook (the move may have queued a delivery).
   */
  async publish({ job, event }: Recorded): Promise<void> {
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
    if (job.request.webhook) this.deps.kickWebhooks();
  }

  /** The webhook message maker for an event of `job` (as changed), its result read first; undefined: none. */
  private async prepared(job: Job, type: JobEventType): Promise<WebhookFor | undefined> {
    const formatter = this.formatterFor(job, type);
    if (!formatter) return undefined;
    const prepared = job.result ? await formatter.prepare?.(job) : undefined;
    return (changed, event) => formatter.format(changed, event, prepared);
  }

  /** The formatter of `job`'s dialect when its webhook takes events of `type`; undefined: none. */
  private formatterFor(job: Job, type: JobEventType): WebhookFormatter | undefined {
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
    }
    return formatter;
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

/**
 * Everything that happens to a job becomes one event: appended to the event log (so that SSE
 * clients can resume with Last-Event-ID), published on the in-process bus (live SSE streams,
 * `Prefer: wait`; in scale-out through Redis to every node's bus), and, when the job's webhook subscribed to it, queued in the webhook outbox.
 * What a webhook body looks like is the dialect's business: each gives a formatter (api/webhooks),
 * all of them handed over at construction, so that none is found missing only when an event fires.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../log.js';
import type { EventLog, WebhookOutbox } from './store.js';
import type { Job, JobEvent, JobEventType } from './types.js';

export interface WebhookMessage {
  readonly url: string;
  readonly payload: string;
  readonly scheme: string;
  readonly messageId: string;
}

/** Builds the webhook message a dialect sends for an event, or undefined to send none. */
export type WebhookFormatter = (
  job: Job,
  event: JobEvent,
) => WebhookMessage | undefined | Promise<WebhookMessage | undefined>;

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
      readonly outbox: WebhookOutbox;
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

  async emit(job: Job, type: JobEventType, data?: Record<string, unknown>): Promise<JobEvent> {
    const event = await this.deps.log.append({
      jobId: job.id,
      keyId: job.keyId,
      type,
      data: data ?? snapshot(job),
    });
    if (this.deps.fanout) {
      // A lost publish costs live listeners one update, never the record: it is in the log.
      await this.deps.fanout
        .publishEvent(event)
        .catch((err: unknown) => this.deps.logger.warn({ err, jobId: job.id }, 'events: publish failed'));
    } else {
      this.bus.emit('event', event);
    }
    const hook = job.request.webhook;
    if (hook && (hook.events.includes(type) || job.request.dialect !== 'native')) {
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
        return event;
      }
      const message = await formatter(job, event);
      if (message) {
        await this.deps.outbox.enqueue({ ...message, jobId: job.id, eventType: type, now: new Date() });
        this.deps.kickWebhooks();
      }
    }
    return event;
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

/**
 * Sends the webhook outbox: polls for due deliveries, POSTs each one signed through safeRequest
 * (the same SSRF defence as image URLs), records every attempt, and schedules retries on the
 * Standard Webhooks schedule (about a day; a receiver's Retry-After is honoured). Delivery is at
 * least once: a message whose attempt could not be recorded is sent again when its lease runs
 * out, with the same `webhook-id`, which receivers deduplicate on. Order: the outbox hands out a
 * job's messages to one URL one at a time, in order (see WebhookOutbox.claimDue).
 *
 * An endpoint whose last finished delivery failed is *failing*: a message to it that fails is
 * given up after that one attempt instead of being retried for a day, until one succeeds
 * (any delivery, or a redelivery) and the endpoint is healthy again.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { invalidArgument } from '../errors.js';
import type { DeliveryAttempt, WebhookDelivery, WebhookOutbox } from '../jobs/store.js';
import type { Logger } from '../log.js';
import { checkAllowPrivate, type PrivateAddressPolicy } from './checked-target.js';
import { checkTimeout } from './deadline.js';
import { safeRequest } from './safe-request.js';
import {
  type AttemptOutcome,
  EXCERPT_BYTES,
  outcomeOfError,
  outcomeOfStatus,
  retryAfterMs,
  STANDARD_WEBHOOK_SCHEDULE_MS,
  scheduledDelay,
} from './webhook-retry.js';
import { signStandardWebhook, webhookSecretKey } from './webhook-signing.js';

/** Headers that sign one delivery; `now` is the attempt's time (Standard Webhooks signs it). */
export type WebhookSigner = (
  delivery: WebhookDelivery,
  now: Date,
) => Record<string, string> | Promise<Record<string, string>>;

/**
 * A dialect's own retry rules, where its provider documents them (Runflow: 3 attempts, 1 s then
 * 2 s, 5xx and network errors only); what a policy leaves out comes from the dispatcher's settings.
 */
export interface WebhookRetryPolicy {
  readonly maxAttempts?: number;
  /** Delays before attempts 2, 3, …, ms (the last repeats). */
  readonly schedule?: readonly number[];
  /** false: wait exactly the schedule's delays (a provider that documents them); default true. */
  readonly jitter?: boolean;
  /** Which HTTP statuses are worth another attempt; default: 408, 429 and 5xx. */
  readonly retryStatus?: (status: number) => boolean;
}

export interface WebhookDispatcherOptions {
  outbox: WebhookOutbox;
  /** Signing schemes by WebhookDelivery.scheme; `standard` is provided from `secret`. */
  signers?: Readonly<Record<string, WebhookSigner>>;
  /** Retry rules by WebhookDelivery.scheme, where a dialect documents its own. */
  policies?: Readonly<Record<string, WebhookRetryPolicy>>;
  /** Standard Webhooks secret (`whsec_…`). */
  secret: string;
  /** PIXELIFT_ALLOW_PRIVATE_URLS; see PrivateAddressPolicy for the predicate form. */
  allowPrivate: boolean | PrivateAddressPolicy;
  log: Logger;
  /** One attempt, connection to answer, ms. */
  timeoutMs?: number;
  /** Attempts before a delivery is given up as failed; default: one more than the schedule's delays. */
  maxAttempts?: number;
  /** Delays before attempts 2, 3, …, ms (the last repeats); default STANDARD_WEBHOOK_SCHEDULE_MS. */
  schedule?: readonly number[];
  /** Wait between polls of the outbox when nothing kicks the dispatcher, ms. */
  pollMs?: number;
  /** Deliveries sent at the same time. */
  concurrency?: number;
  now?: () => Date;
  /** Uniform in [0, 1): the backoff jitter; tests inject a fixed one. */
  random?: () => number;
}

export const WEBHOOK_DEFAULTS = {
  timeoutMs: 10_000, // ms per attempt
  // Immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts over ~28 h (±10 % jitter).
  schedule: STANDARD_WEBHOOK_SCHEDULE_MS,
  pollMs: 1_000, // ms
  concurrency: 16,
};

/** A receiver's Retry-After is honoured up to the schedule's longest wait: it cannot park a message for weeks. */
export const MAX_RETRY_AFTER_MS = 10 * 3_600_000;

/** A claim outlives the attempt by this much, so another dispatcher never sends the same delivery meanwhile. */
const LEASE_MARGIN_MS = 5_000;
const USER_AGENT = 'Pixelift-Webhooks/1';

export interface WebhookAttemptEvent {
  /** The delivery after this attempt was recorded. */
  readonly delivery: WebhookDelivery;
  readonly attempt: DeliveryAttempt;
  /** 1 for the first attempt. */
  readonly number: number;
  readonly outcome: 'delivered' | 'retrying' | 'failed';
  readonly nextAttemptAt: Date | null;
}

/** Every attempt emits `attempt`; the last one also `delivered` or `failed` (metrics listen here). */
export interface WebhookDispatcherEvents {
  attempt: [WebhookAttemptEvent];
  delivered: [WebhookAttemptEvent];
  failed: [WebhookAttemptEvent];
}

type Settings = Required<
  Omit<WebhookDispatcherOptions, 'signers' | 'policies' | 'outbox' | 'log' | 'secret' | 'maxAttempts'>
> & { readonly maxAttempts: number | undefined };

/**
 * The Standard Webhooks payload convention: `{type, timestamp, data}` with a dotted type.
 * `data` is the job as the native API serialises it.
 */
export function webhookEnvelope(type: string, data: object, timestamp: Date): string {
  return JSON.stringify({ type: `job.${type}`, timestamp: timestamp.toISOString(), data });
}

export class WebhookDispatcher extends EventEmitter<WebhookDispatcherEvents> {
  private readonly outbox: WebhookOutbox;
  private readonly log: Logger;
  private readonly signers: Readonly<Record<string, WebhookSigner>>;
  private readonly policies: Readonly<Record<string, WebhookRetryPolicy>>;
  private readonly settings: Settings;
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  private running = false;
  private kicked = false;
  private claiming = false;
  private wake: (() => void) | undefined;

  constructor(options: WebhookDispatcherOptions) {
    super();
    const { outbox, log, secret, signers = {}, policies = {}, ...tunables } = options;
    this.policies = policies;
    this.settings = {
      ...WEBHOOK_DEFAULTS,
      maxAttempts: undefined,
      now: () => new Date(),
      random: Math.random,
      ...definedOnly(tunables),
    } as Settings;
    validate(this.settings);
    webhookSecretKey(secret); // fail at construction, not at the first delivery
    this.outbox = outbox;
    this.log = log;
    this.signers = {
      standard: (d, now) => ({
        ...signStandardWebhook({
          secret,
          id: d.messageId,
          timestamp: Math.floor(now.getTime() / 1000),
          body: d.payload,
        }),
      }),
      ...signers,
    };
  }

  /** Begin polling the outbox; a second call while running does nothing. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Claims and sends in progress now (tests step an injected clock and wait for this to reach 0). */
  get busy(): number {
    return this.inFlight.size + (this.claiming ? 1 : 0);
  }

  /** Poll now instead of at the next tick: call it when a delivery has been enqueued. */
  kick(): void {
    this.kicked = true;
    this.wake?.();
  }

  /** Stop polling; resolves once the sends in flight have finished and been recorded. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    await Promise.all(this.inFlight);
  }

  private async run(): Promise<void> {
    while (this.running) {
      await this.poll();
      if (this.running) await this.sleep();
    }
  }

  private sleep(): Promise<void> {
    if (this.kicked) {
      this.kicked = false;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.kicked = false;
        resolve();
      };
      // Not unref'd: a started dispatcher is live work, and keeps the process up until stop().
      const timer = setTimeout(done, this.settings.pollMs);
      this.wake = done;
    });
  }

  private async poll(): Promise<void> {
    const room = this.settings.concurrency - this.inFlight.size;
    if (room <= 0) return; // a finishing send kicks the loop
    let due: WebhookDelivery[];
    this.claiming = true;
    try {
      due = await this.outbox.claimDue({
        now: this.settings.now(),
        limit: room,
        leaseMs: this.settings.timeoutMs + LEASE_MARGIN_MS,
      });
    } catch (err) {
      // Nothing is lost: the deliveries stay pending and the next poll claims them.
      this.log.error({ err }, 'webhooks: claiming due deliveries failed');
      this.claiming = false;
      return;
    }
    for (const delivery of due) {
      const sending: Promise<void> = this.send(delivery)
        .catch((err: unknown) => this.log.error({ err, deliveryId: delivery.id }, 'webhooks: send failed'))
        .finally(() => {
          this.inFlight.delete(sending);
          this.kick();
        });
      this.inFlight.add(sending);
    }
    this.claiming = false;
  }

  private async send(delivery: WebhookDelivery): Promise<void> {
    const { now } = this.settings;
    const policy = this.policies[delivery.scheme] ?? {};
    const schedule = policy.schedule ?? this.settings.schedule;
    const maxAttempts = policy.maxAttempts ?? this.settings.maxAttempts ?? schedule.length + 1;
    const number = delivery.attempts.length + 1;
    const at = now();
    const started = performance.now();
    let { outcome, statusCode } = await this.attempt(delivery, at);
    const durationMs = Math.round(performance.now() - started);
    if (
      outcome.kind === 'retry' &&
      statusCode !== null &&
      policy.retryStatus &&
      !policy.retryStatus(statusCode)
    ) {
      outcome = { kind: 'final', error: outcome.error };
    }
    if (outcome.kind === 'retry' && number < maxAttempts) {
      const since = await this.outbox.endpointFailingSince(delivery.url);
      if (since !== null) {
        outcome = {
          kind: 'final',
          error: `${outcome.error}; the endpoint is failing (since ${since}), so this is not retried: redeliver once it is back`,
        };
      }
    }

    const retrying = outcome.kind === 'retry' && number < maxAttempts;
    let delay = scheduledDelay(number, schedule, this.settings.random, policy.jitter !== false);
    if (outcome.kind === 'retry' && outcome.retryAfterMs !== undefined) {
      delay = Math.max(delay, Math.min(outcome.retryAfterMs, MAX_RETRY_AFTER_MS));
    }
    const nextAttemptAt = retrying ? new Date(now().getTime() + delay) : null;
    const ok = outcome.kind === 'delivered';
    const attempt: DeliveryAttempt = {
      at: at.toISOString(),
      statusCode,
      error: outcome.kind === 'delivered' ? null : outcome.error,
      durationMs,
    };
    // If this throws, the delivery stays leased and is sent again when the lease ends (at least once).
    const recorded = await this.outbox.recordAttempt(delivery.id, attempt, { ok, next: nextAttemptAt });

    const event: WebhookAttemptEvent = {
      delivery: recorded ?? delivery,
      attempt,
      number,
      outcome: ok ? 'delivered' : retrying ? 'retrying' : 'failed',
      nextAttemptAt,
    };
    const fields = { deliveryId: delivery.id, jobId: delivery.jobId, attempt: number, statusCode };
    this.emit('attempt', event);
    if (ok) {
      this.log.debug(fields, 'webhooks: delivered');
      this.emit('delivered', event);
    } else if (retrying) {
      this.log.debug(
        { ...fields, error: attempt.error, nextAttemptAt },
        'webhooks: attempt failed, will retry',
      );
    } else {
      this.log.warn({ ...fields, error: attempt.error }, 'webhooks: delivery failed, giving up');
      this.emit('failed', event);
    }
  }

  /** One POST; never throws: every failure is an outcome. */
  private async attempt(
    delivery: WebhookDelivery,
    at: Date,
  ): Promise<{ outcome: AttemptOutcome; statusCode: number | null }> {
    const signer = this.signers[delivery.scheme];
    if (signer === undefined) {
      const error = `no signer for the webhook scheme "${delivery.scheme}"`;
      return { outcome: { kind: 'final', error }, statusCode: null };
    }
    try {
      const signature = await signer(delivery, at);
      const res = await safeRequest(delivery.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...signature, 'user-agent': USER_AGENT },
        body: delivery.payload,
        allowPrivate: this.settings.allowPrivate,
        timeoutMs: this.settings.timeoutMs,
        maxResponseBytes: EXCERPT_BYTES,
      });
      const retryAfter = retryAfterMs(res.headers['retry-after'], this.settings.now());
      return { outcome: outcomeOfStatus(res.status, res.body, retryAfter), statusCode: res.status };
    } catch (err) {
      return { outcome: outcomeOfError(err), statusCode: null };
    }
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function validate(s: Settings): void {
  checkAllowPrivate(s.allowPrivate);
  checkTimeout(s.timeoutMs);
  const positiveIntegers = ['pollMs', 'concurrency'] as const;
  for (const name of positiveIntegers) {
    if (!Number.isSafeInteger(s[name]) || s[name] < 1)
      throw invalidArgument(name, 'positive integer', s[name]);
  }
  if (s.maxAttempts !== undefined && (!Number.isSafeInteger(s.maxAttempts) || s.maxAttempts < 1)) {
    throw invalidArgument('maxAttempts', 'positive integer', s.maxAttempts);
  }
  if (
    !Array.isArray(s.schedule) ||
    s.schedule.length === 0 ||
    !s.schedule.every((d) => Number.isSafeInteger(d) && d >= 0)
  ) {
    throw invalidArgument('schedule', 'non-empty array of delays in ms', s.schedule);
  }
  if (typeof s.now !== 'function') throw invalidArgument('now', 'function', s.now);
  if (typeof s.random !== 'function') throw invalidArgument('random', 'function', s.random);
}

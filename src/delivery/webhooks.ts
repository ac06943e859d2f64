/**
 * Sends the webhook outbox: polls for due deliveries, POSTs each one signed through safeRequest
 * (the same SSRF defence as image URLs), records every attempt, and schedules retries with
 * backoff. Delivery is at least once: a message whose attempt could not be recorded is sent again
 * when its lease runs out, with the same `webhook-id`, which receivers deduplicate on.
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
  backoffDelay,
  EXCERPT_BYTES,
  outcomeOfError,
  outcomeOfStatus,
} from './webhook-retry.js';
import { signStandardWebhook, webhookSecretKey } from './webhook-signing.js';

/** Headers that sign one delivery; `now` is the attempt's time (Standard Webhooks signs it). */
export type WebhookSigner = (
  delivery: WebhookDelivery,
  now: Date,
) => Record<string, string> | Promise<Record<string, string>>;

/**
 * A dialect's own retry rules (Runflow: 3 attempts, 1 s then 2 s, 5xx and network errors only);
 * what a policy leaves out comes from the dispatcher's settings.
 */
export interface WebhookRetryPolicy {
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  /** false: wait exactly baseDelayMs·2^(n−1) (a provider that documents its delays); default true. */
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
  /** Attempts before a delivery is given up as failed. */
  maxAttempts?: number;
  /** Backoff ceiling of the first retry, ms; it doubles per attempt up to maxDelayMs. */
  baseDelayMs?: number;
  maxDelayMs?: number;
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
  // With the delays below, 8 attempts wait at most 1+2+…+64 s ≈ 2 min between them (about half
  // that on average, jitter being uniform); raise maxAttempts for receivers down longer.
  maxAttempts: 8,
  baseDelayMs: 1_000, // ms
  maxDelayMs: 600_000, // ms (10 min)
  pollMs: 1_000, // ms
  concurrency: 16,
};

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
  Omit<WebhookDispatcherOptions, 'signers' | 'policies' | 'outbox' | 'log' | 'secret'>
>;

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
  private wake: (() => void) | undefined;

  constructor(options: WebhookDispatcherOptions) {
    super();
    const { outbox, log, secret, signers = {}, policies = {}, ...tunables } = options;
    this.policies = policies;
    this.settings = {
      ...WEBHOOK_DEFAULTS,
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
    try {
      due = await this.outbox.claimDue({
        now: this.settings.now(),
        limit: room,
        leaseMs: this.settings.timeoutMs + LEASE_MARGIN_MS,
      });
    } catch (err) {
      // Nothing is lost: the deliveries stay pending and the next poll claims them.
      this.log.error({ err }, 'webhooks: claiming due deliveries failed');
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
  }

  private async send(delivery: WebhookDelivery): Promise<void> {
    const { now } = this.settings;
    const policy = this.policies[delivery.scheme] ?? {};
    const maxAttempts = policy.maxAttempts ?? this.settings.maxAttempts;
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

    const retrying = outcome.kind === 'retry' && number < maxAttempts;
    const base = policy.baseDelayMs ?? this.settings.baseDelayMs;
    const delay =
      policy.jitter === false
        ? Math.min(this.settings.maxDelayMs, base * 2 ** (number - 1))
        : backoffDelay(number, { ...this.settings, baseDelayMs: base });
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
      return { outcome: outcomeOfStatus(res.status, res.body), statusCode: res.status };
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
  const positiveIntegers = ['maxAttempts', 'baseDelayMs', 'maxDelayMs', 'pollMs', 'concurrency'] as const;
  for (const name of positiveIntegers) {
    if (!Number.isSafeInteger(s[name]) || s[name] < 1)
      throw invalidArgument(name, 'positive integer', s[name]);
  }
  if (typeof s.now !== 'function') throw invalidArgument('now', 'function', s.now);
  if (typeof s.random !== 'function') throw invalidArgument('random', 'function', s.random);
}

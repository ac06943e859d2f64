/**
 * What the service persists, as interfaces: the embedded implementation is SQLite
 * (sqlite/), the scale-out one PostgreSQL (issue 7). All methods are async so that both fit.
 * Each interface is small and owns one table family; the service gets the few it uses.
 */
import type { Job, JobEvent, JobEventType, JobStatus } from './types.js';

/** Fields the runner and the API change after creation. */
export type JobPatch = Partial<
  Pick<
    Job,
    | 'status'
    | 'progress'
    | 'etaSeconds'
    | 'model'
    | 'output'
    | 'warnings'
    | 'error'
    | 'result'
    | 'timings'
    | 'startedAt'
    | 'finishedAt'
    | 'expiresAt'
  >
>;

/**
 * What the moves that record their own event take (create: queued; claim, claimById: started;
 * recover, claimById out of attempts: failed; expire: expired): the store records each event in
 * the move's transaction, and with it the event's webhook delivery, so that the change, the event
 * and the outbox row commit together or not at all.
 */
export interface Recording {
  /** The webhook message of each event the move records (JobEvents.webhook); none when absent. */
  readonly webhook?: WebhookFor;
}

/** A job as a move left it, with the event recorded in the same transaction. */
export interface Recorded {
  readonly job: Job;
  readonly event: JobEvent;
}

/** A new job with its `queued` event, or (replayed) the job an earlier request with the same idempotency key created. */
export type Created =
  | { readonly job: Job; readonly replayed: true }
  | ({ readonly replayed: false } & Recorded);

export interface CreateJobOptions extends Recording {
  /** Same key + same fingerprint → the stored job, replayed; different fingerprint → idempotency_key_reused. */
  readonly idempotency?: { readonly key: string; readonly fingerprint: string };
  /** Debit `job.cost` from `job.keyId`'s credits in the same transaction (insufficient_credits when short). */
  readonly charge?: boolean;
  /** Refuse with queue_full when this many jobs are queued already. */
  readonly maxQueued?: number;
  /** Refuse with key_queue_full when the job's key has this many jobs queued already. */
  readonly maxQueuedPerKey?: number;
}

export interface ListJobsQuery {
  /** Only this key's jobs; undefined: every key's (open mode, admin). */
  readonly keyId?: string | null;
  readonly status?: JobStatus;
  /** 1..100 */
  readonly limit: number;
  /** Opaque cursor from a previous page's `nextCursor`. */
  readonly cursor?: string;
}

export interface ClaimOptions extends Recording {
  readonly maxRunningPerKey: number;
  readonly now: Date;
}

export interface ClaimByIdOptions extends ClaimOptions {
  readonly maxAttempts: number;
}

export interface RecoverOptions extends Recording {
  readonly maxAttempts: number;
  readonly now: Date;
}

export type ClaimOutcome =
  /** Running now under a new attempt, its `started` event recorded; `takeover`: it was running under an attempt that stopped. */
  | ({ readonly kind: 'claimed'; readonly takeover: boolean } & Recorded)
  /** Its key runs `maxRunningPerKey` jobs already: ask again later. */
  | { readonly kind: 'capped' }
  /** It was running and had used every attempt: now failed with attempts_exhausted, refunded, its `failed` event recorded. */
  | ({ readonly kind: 'exhausted' } & Recorded)
  /** Nothing to run: ended, canceled, or deleted (job undefined). */
  | { readonly kind: 'gone'; readonly job: Job | undefined };

export interface JobStore {
  /**
   * Insert a new job (status queued) and its `queued` event, atomically with idempotency, credit
   * and queue-depth checks. A replay writes nothing and records no event.
   */
  create(job: Job, options?: CreateJobOptions): Promise<Created>;
  get(id: string): Promise<Job | undefined>;
  /** The job created with this idempotency key by this key (null: open mode), and its body fingerprint. */
  findIdempotent(keyId: string | null, key: string): Promise<{ job: Job; fingerprint: string } | undefined>;
  /** Newest first. */
  list(query: ListJobsQuery): Promise<{ jobs: Job[]; nextCursor: string | null }>;
  /**
   * Take a queued job whose key runs fewer than `maxRunningPerKey` jobs: status running,
   * attempts + 1, startedAt now, its `started` event recorded. Keys take turns (round-robin): the
   * key served least recently goes first, and its oldest job; so one key's flood never holds
   * another's job back more than one turn. Undefined when nothing can run.
   */
  claim(options: ClaimOptions): Promise<Recorded | undefined>;
  /**
   * Take one named job for a run: the scale-out queue (BullMQ) hands a worker a job id, and the
   * store decides. A queued job is claimed unless its key is at `maxRunningPerKey`. A running
   * job is taken over (attempts + 1, which fences out the attempt before it): the queue only
   * hands out a running job again after its worker stopped heartbeating. Out of attempts, it
   * fails with attempts_exhausted instead (refunded, as `transition` with `refund`).
   */
  claimById(id: string, options: ClaimByIdOptions): Promise<ClaimOutcome>;
  /**
   * Apply `patch` if the job still matches `fence` (status and/or attempts), so that a stale
   * attempt never overwrites a newer one. Undefined when the job is gone or the fence failed.
   */
  update(
    id: string,
    patch: JobPatch,
    fence?: { readonly status?: JobStatus | readonly JobStatus[]; readonly attempts?: number },
  ): Promise<Job | undefined>;
  /**
   * `update`, and in the same transaction the refund (when asked), the event the change makes,
   * and its webhook delivery: the outbox row commits with the change of state or not at all, so
   * a crash between them can neither lose a webhook nor send one for a change that never was.
   * Undefined (nothing written) when the job is gone or the fence failed.
   */
  transition(id: string, change: JobTransition): Promise<Recorded | undefined>;
  /** Give a charge back to the key, once (failed, canceled, expired-before-run). Returns the job. */
  refund(id: string): Promise<Job | undefined>;
  /**
   * After a crash: every `running` job goes back to `queued` while attempts < maxAttempts (no
   * event: it will be `started` again), else becomes `failed` with error `attempts_exhausted`,
   * refunded, with its `failed` event.
   */
  recover(options: RecoverOptions): Promise<{ requeued: Job[]; failed: Recorded[] }>;
  /** A running job interrupted by a graceful shutdown: back to queued, the attempt not counted. */
  requeue(id: string, fence: { readonly attempts: number }): Promise<Job | undefined>;
  /**
   * Jobs whose expiresAt ≤ now and that still hold a result: status expired, result null, each
   * with its `expired` event. Each job is returned as it was `before`: its result names the blob
   * to delete.
   */
  expire(now: Date, recording?: Recording): Promise<{ before: Job; event: JobEvent }[]>;
  /** Remove the job record (its events and deliveries go with it). */
  delete(id: string): Promise<Job | undefined>;
  /** Jobs per status, all keys (metrics, queue depth). */
  counts(): Promise<Record<JobStatus, number>>;
  /** Queued and running jobs, all keys (cheap: an index lookup each). */
  active(): Promise<{ queued: number; running: number }>;
  /** Running and queued jobs of one key. */
  activeCount(keyId: string | null): Promise<{ queued: number; running: number }>;
  /**
   * How many queued jobs (all keys) were created before this one: its place in the queue, 0 when
   * nothing queued is older (an index range on jobs_status). Undefined when the job is not queued.
   */
  queuedAhead(id: string): Promise<number | undefined>;
}

export interface JobTransition {
  readonly patch: JobPatch;
  readonly fence: { readonly status?: JobStatus | readonly JobStatus[]; readonly attempts?: number };
  /** Also give the job's charge back, as `refund` does (failed, canceled). */
  readonly refund?: boolean;
  readonly event: {
    readonly type: JobEventType;
    /** The event's data from the job as changed. */
    readonly data: (job: Job) => Record<string, unknown>;
  };
  readonly webhook?: WebhookFor;
}

/** What a dialect's webhook formatter makes of an event: where it goes and how it is signed. */
export type WebhookMessage = Pick<NewDelivery, 'url' | 'messageId' | 'payload' | 'scheme'>;

/**
 * The webhook message for an event, or undefined for none. Synchronous: the store calls it inside
 * the transaction that records the event, once the event has its id.
 */
export type WebhookFor = (job: Job, event: JobEvent) => WebhookMessage | undefined;

export interface EventLog {
  /**
   * Append an event that changes no job. The events of a job's changes are recorded by the job
   * store's moves, with the change and its webhook delivery (Recording, JobTransition).
   */
  append(event: Omit<JobEvent, 'id' | 'createdAt'> & { readonly createdAt?: string }): Promise<JobEvent>;
  /** Events with id > afterId, oldest first; filtered by job, or by key (undefined key: every key). */
  since(query: EventQuery): Promise<JobEvent[]>;
}

export interface EventQuery {
  readonly afterId: number;
  readonly jobId?: string;
  readonly keyId?: string | null;
  /** Most events returned; default EVENT_PAGE. */
  readonly limit?: number;
}

/** Events one `since` call returns when no limit is given. */
export const EVENT_PAGE = 1000;

export interface DeliveryAttempt {
  readonly at: string;
  /** HTTP status, or null when no response came (timeout, connection error, refused URL). */
  readonly statusCode: number | null;
  readonly error: string | null;
  readonly durationMs: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  readonly id: string;
  readonly jobId: string;
  readonly eventType: JobEventType;
  readonly url: string;
  /** Standard Webhooks `webhook-id`; the same on a redelivery of the same message. */
  readonly messageId: string;
  /** The exact JSON body signed and sent. */
  readonly payload: string;
  /** Which signing scheme the dialect uses (`standard` for native; compat dialects add theirs). */
  readonly scheme: string;
  readonly status: DeliveryStatus;
  readonly attempts: readonly DeliveryAttempt[];
  readonly nextAttemptAt: string | null;
  readonly createdAt: string;
}

/** A message to queue: what it is, where it goes, how it is signed. */
export interface NewDelivery {
  readonly jobId: string;
  readonly eventType: JobEventType;
  readonly url: string;
  readonly messageId: string;
  readonly payload: string;
  readonly scheme: string;
  readonly now: Date;
}

/** How an attempt ended: delivered (ok), to retry at `next`, or given up (not ok, next null). */
export interface DeliveryOutcome {
  readonly ok: boolean;
  readonly next: Date | null;
}

export interface WebhookOutbox {
  enqueue(delivery: NewDelivery): Promise<WebhookDelivery>;
  /**
   * Pending deliveries due at `now`, oldest first; each is leased (nextAttemptAt pushed to
   * now + leaseMs) so that a second dispatcher does not send it at the same time. A delivery
   * waits while an older one of the same job to the same URL is pending, so that a receiver
   * gets each job's messages in order, also after an outage (issue 16).
   */
  claimDue(options: {
    readonly now: Date;
    readonly limit: number;
    readonly leaseMs: number;
  }): Promise<WebhookDelivery[]>;
  /** Record one attempt; `next` null means final (delivered when ok, else failed). */
  recordAttempt(
    id: string,
    attempt: DeliveryAttempt,
    outcome: DeliveryOutcome,
  ): Promise<WebhookDelivery | undefined>;
  list(jobId: string): Promise<WebhookDelivery[]>;
  get(id: string): Promise<WebhookDelivery | undefined>;
  /**
   * When the endpoint `url` started failing: the last attempt of its latest finished delivery,
   * if that delivery failed; null while its latest finished delivery was delivered (or none ended).
   */
  endpointFailingSince(url: string): Promise<string | null>;
  /** Pending deliveries in total (metrics). */
  pendingCount(): Promise<number>;
}

export interface Upload {
  readonly id: string;
  readonly keyId: string | null;
  readonly blobKey: string;
  readonly bytes: number;
  readonly contentType: string;
  readonly width: number;
  readonly height: number;
  readonly format: string;
  readonly createdAt: string;
  readonly expiresAt: string;
}

export interface UploadStore {
  create(upload: Upload): Promise<Upload>;
  get(id: string): Promise<Upload | undefined>;
  /** Uploads whose expiresAt ≤ now, removed from the store and returned (to delete their blobs). */
  expire(now: Date): Promise<Upload[]>;
}

export interface ApiKey {
  readonly id: string;
  readonly name: string;
  /** Remaining credits; null: unlimited. */
  readonly credits: number | null;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  /** `config` (PIXELIFT_API_KEYS) or `store` (`pixelift keys create`). */
  readonly origin: 'config' | 'store';
  /** May manage models over HTTP (`POST/DELETE /v1/models`); `pixelift keys create --admin`. */
  readonly admin: boolean;
}

export interface KeyStore {
  /** A new key; the secret is returned once and only its hash is stored. */
  create(options: {
    readonly name: string;
    readonly credits: number | null;
    /** Default false. */
    readonly admin?: boolean;
  }): Promise<{ key: ApiKey; secret: string }>;
  /**
   * Make the keys given in configuration exist (id derived from the secret's hash), with the
   * given credits when stated; keys no longer in configuration are revoked.
   */
  syncConfigKeys(
    keys: readonly { readonly secret: string; readonly credits: number | null }[],
  ): Promise<void>;
  /** The live (not revoked) key with this secret, compared by hash. */
  authenticate(secret: string): Promise<ApiKey | undefined>;
  get(id: string): Promise<ApiKey | undefined>;
  list(): Promise<ApiKey[]>;
  /** Add (or with a negative amount, remove) credits; setting null makes the key unlimited. */
  setCredits(id: string, credits: number | null): Promise<ApiKey | undefined>;
  addCredits(id: string, amount: number): Promise<ApiKey | undefined>;
  revoke(id: string): Promise<ApiKey | undefined>;
  /** Live keys (auth on/off, open mode). */
  count(): Promise<number>;
}

/** Every store over one database, as `openSqliteStores` and `openPostgresStores` return them. */
export interface Stores {
  readonly jobs: JobStore;
  readonly events: EventLog;
  readonly outbox: WebhookOutbox;
  readonly uploads: UploadStore;
  readonly keys: KeyStore;
  /** Close the connections (idempotent); the stores must not be used afterwards. */
  close(): void | Promise<void>;
}

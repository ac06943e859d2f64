/**
 * Everything the HTTP layer is handed, built by server/boot.ts, faked by nothing. app.ts holds it
 * whole; each route file and dialect takes a Pick of the fields it uses (its `…Deps` type).
 */
import type {} from '@fastify/multipart';
import type {} from '@fastify/swagger';
import type { FastifyBaseLogger } from 'fastify';
import type { Limits, SocketSettings } from '../config.js';
import type { JobEvents } from '../jobs/events.js';
import type { Caller, JobService } from '../jobs/service.js';
import type { EventLog, KeyStore, WebhookDelivery, WebhookOutbox } from '../jobs/store.js';
import type { Uploads } from '../jobs/uploads.js';
import type { ModelStore } from '../models/store.js';
import type { UserModelSync } from '../models/user-model-sync.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Metrics } from './metrics.js';
import type { Presenter } from './present.js';
import type { RateStore } from './rate-limit.js';

export interface ApiDeps {
  readonly service: JobService;
  readonly keys: KeyStore;
  readonly uploads: Uploads;
  readonly blobs: BlobStore;
  readonly events: JobEvents;
  readonly eventLog: EventLog;
  readonly outbox: WebhookOutbox;
  readonly models: ModelStore;
  /** Scale-out: shares models added over HTTP with every node (undefined when embedded). */
  readonly modelSync?: UserModelSync;
  readonly metrics: Metrics;
  readonly presenter: Presenter;
  /** The Standard Webhooks secret (Replicate's per-key default secret is derived from it). */
  readonly webhookSecret?: string;
  /** Checks a signed file link (signature and expiry). */
  readonly verifyFileLink: (fileId: string, expires: string, signature: string) => boolean;
  /** Queue a copy of a delivery (same message id) and wake the dispatcher. */
  readonly redeliver: (delivery: WebhookDelivery) => Promise<WebhookDelivery>;
  /** The parts the service needs (readiness): undefined for one that works, else what failed and why. */
  readonly ready: () => Promise<Record<string, string | undefined>>;
  /** True once shutdown began: new jobs are refused with shutting_down. */
  readonly shuttingDown: () => boolean;
  /** Aborted when shutdown closes the HTTP server: SSE streams end and `Prefer: wait` answers at once. */
  readonly shutdownSignal: AbortSignal;
  /** Where rate-limit counts live: Redis in scale-out (shared by the nodes); default in memory. */
  readonly rateStore?: RateStore;
  readonly settings: {
    readonly limits: Limits;
    readonly maxWaitSeconds: number;
    readonly rateLimitPerMinute: number;
    /** Tasks one request may carry (Runware's arrays). */
    readonly maxTasksPerRequest?: number;
    readonly heartbeatMs: number;
    /**
     * Whether no live key means open mode (DESIGN §5): only when bound to loopback. A server on
     * another address whose last key is revoked refuses every request instead of opening up.
     */
    readonly openWithoutKeys: boolean;
    /** Largest JSON body, bytes (the input limit as base64 plus room for the rest). */
    readonly bodyLimit: number;
    /** WebSocket limits (Runware's SDK protocol). */
    readonly socket: SocketSettings;
    /** Each worker's inference memory budget, bytes, reported by /v1/models. */
    readonly memoryBudget?: number;
  };
  /** pino instance (request ids and job ids on every line); undefined: no request logging. */
  readonly logger?: FastifyBaseLogger;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on API routes. */
    caller: Caller;
  }
}

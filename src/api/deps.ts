/** What the HTTP layer needs from the rest of the service; built by boot.ts, faked by nothing. */
import type {} from '@fastify/multipart';
import type {} from '@fastify/swagger';
import type { FastifyBaseLogger } from 'fastify';
import type { Limits, SocketSettings } from '../config.js';
import type { JobEvents } from '../jobs/events.js';
import type { Caller, ImageInput, JobService } from '../jobs/service.js';
import type { EventLog, KeyStore, UploadStore, WebhookDelivery, WebhookOutbox } from '../jobs/store.js';
import type { ModelStore } from '../models/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { Metrics } from './metrics.js';
import type { Presenter } from './present.js';

export interface ApiDeps {
  readonly service: JobService;
  readonly keys: KeyStore;
  readonly uploads: UploadStore;
  readonly blobs: BlobStore;
  readonly events: JobEvents;
  readonly eventLog: EventLog;
  readonly outbox: WebhookOutbox;
  readonly models: ModelStore;
  readonly metrics: Metrics;
  readonly presenter: Presenter;
  /** The Standard Webhooks secret (Replicate's per-key default secret is derived from it). */
  readonly webhookSecret?: string;
  /** Checks a signed file link (signature and expiry). */
  readonly verifyFileLink: (fileId: string, expires: string, signature: string) => boolean;
  /** Tells the image field's forms apart (URL, data URI, base64, upload id). */
  readonly parseImage: (value: string) => ImageInput;
  /** Queue a copy of a delivery (same message id) and wake the dispatcher. */
  readonly redeliver: (delivery: WebhookDelivery) => Promise<WebhookDelivery>;
  /** Whether the parts the service needs answer (readiness). */
  readonly ready: () => Promise<Record<string, boolean>>;
  /** True once shutdown began: new jobs are refused with shutting_down. */
  readonly shuttingDown: () => boolean;
  /** Aborted when shutdown closes the HTTP server: SSE streams end and `Prefer: wait` answers at once. */
  readonly shutdownSignal: AbortSignal;
  readonly settings: {
    readonly limits: Limits;
    readonly maxWaitSeconds: number;
    readonly rateLimitPerMinute: number;
    readonly heartbeatMs: number;
    readonly uploadTtlSeconds: number;
    /**
     * Whether no live key means open mode (DESIGN §5): only when bound to loopback. A server on
     * another address whose last key is revoked refuses every request instead of opening up.
     */
    readonly openWithoutKeys: boolean;
    /** Largest JSON body, bytes (the input limit as base64 plus room for the rest). */
    readonly bodyLimit: number;
    /** WebSocket limits (Runware's SDK protocol). */
    readonly socket: SocketSettings;
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

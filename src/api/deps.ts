/**
 * Everything the HTTP layer is handed, built by server/boot.ts, faked by nothing, in groups that
 * follow the rooms it comes from. app.ts holds it whole; each route file and dialect names what
 * it uses with `Uses<…>` (its `…Deps` type): the groups, and in each the members it reads.
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
  readonly jobs: JobDeps;
  readonly files: FileDeps;
  readonly models: ModelDeps;
  readonly webhooks: WebhookDeps;
  readonly access: AccessDeps;
  readonly lifecycle: LifecycleDeps;
  readonly telemetry: TelemetryDeps;
  readonly settings: ApiSettings;
}

/** The jobs room: the service, uploads, the live event bus and the replayable event log. */
export interface JobDeps {
  readonly service: JobService;
  readonly uploads: Uploads;
  readonly events: JobEvents;
  readonly eventLog: EventLog;
}

/** Result and upload files: their bytes, and the signed links that hand them out. */
export interface FileDeps {
  readonly blobs: BlobStore;
  /** Signs the link to a file (a job's JSON and every dialect's result URL). */
  readonly presenter: Presenter;
  /** Checks a signed file link (signature and expiry). */
  readonly verifyLink: (fileId: string, expires: string, signature: string) => boolean;
}

export interface ModelDeps {
  readonly store: ModelStore;
  /** Scale-out: shares models added over HTTP with every node (undefined when embedded). */
  readonly sync?: UserModelSync;
}

/** The webhook outbox as the API sees it (the dispatcher that sends it is server/boot.ts's). */
export interface WebhookDeps {
  readonly outbox: WebhookOutbox;
  /** Queue a copy of a delivery (same message id) and wake the dispatcher. */
  readonly redeliver: (delivery: WebhookDelivery) => Promise<WebhookDelivery>;
  /** The Standard Webhooks secret (Replicate's per-key default secret is derived from it). */
  readonly secret?: string;
}

/** Who may call, and how often. */
export interface AccessDeps {
  readonly keys: KeyStore;
  /** Where rate-limit counts live: Redis in scale-out (shared by the nodes); default in memory. */
  readonly rateStore?: RateStore;
}

/** Readiness and shutdown. */
export interface LifecycleDeps {
  /** The parts the service needs (readiness): undefined for one that works, else what failed and why. */
  readonly ready: () => Promise<Record<string, string | undefined>>;
  /** True once shutdown began: new jobs are refused with shutting_down. */
  readonly shuttingDown: () => boolean;
  /** Aborted when shutdown closes the HTTP server: SSE streams end and `Prefer: wait` answers at once. */
  readonly shutdownSignal: AbortSignal;
}

export interface TelemetryDeps {
  readonly metrics: Metrics;
  /** pino instance (request ids and job ids on every line); undefined: no request logging. */
  readonly logger?: FastifyBaseLogger;
}

/** The HTTP layer's share of the config (server/boot.ts derives it from config.ts's Config). */
export interface ApiSettings {
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
}

/** For each group of ApiDeps a unit uses, the members it reads. */
type Needs = { readonly [G in keyof ApiDeps]?: keyof ApiDeps[G] };

/**
 * What a route file or dialect uses of ApiDeps: `Uses<{ jobs: 'service'; files: 'presenter' }>`
 * is `{ jobs: Pick<JobDeps, 'service'>; files: Pick<FileDeps, 'presenter'> }`. A route given it
 * can reach nothing else, and ApiDeps (or any larger Uses) satisfies it.
 */
export type Uses<N extends Needs> = {
  readonly [G in keyof N & keyof ApiDeps]: Pick<ApiDeps[G], N[G] & keyof ApiDeps[G]>;
};

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on API routes. */
    caller: Caller;
  }
}

/**
 * What a compatibility dialect is (DESIGN §1, §5): routes under `/compat/<name>` that translate
 * the provider's requests into SubmitRequests and Jobs into the provider's responses, an error
 * shape, and, where the provider calls back, a webhook body, signature and retry policy.
 */
import type { FastifyInstance } from 'fastify';
import type { WebhookRetryPolicy, WebhookSigner } from '../../delivery/webhooks.js';
import type { WebhookFormatter } from '../../jobs/events.js';
import type { JobStore } from '../../jobs/store.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { ApiDeps } from '../deps.js';
import type { Presenter } from '../present.js';

/** What a dialect's webhook side needs (built at boot, before the HTTP app). */
export interface WebhookContext {
  readonly presenter: Presenter;
  readonly blobs: BlobStore;
  readonly jobs: JobStore;
  /** PIXELIFT_RUNFLOW_SIGNING_SECRET. */
  readonly runflowSigningSecret: string | undefined;
  /** The Standard Webhooks secret (Replicate derives each key's default secret from it); absent on worker nodes, which only format. */
  readonly webhookSecret?: string;
}

export interface DialectWebhooks {
  /** The body each event of a job created in this dialect sends (undefined: none). */
  readonly formatter: WebhookFormatter;
  /** Signing scheme name (WebhookDelivery.scheme) → headers. */
  readonly signers?: Readonly<Record<string, WebhookSigner>>;
  readonly policies?: Readonly<Record<string, WebhookRetryPolicy>>;
}

export interface Dialect {
  /** `runflow`, `apiframe`, …: the job's `request.dialect` and the mount `/compat/<name>`. */
  readonly name: string;
  mount(api: FastifyInstance, deps: ApiDeps): Promise<void>;
  webhooks?(ctx: WebhookContext): DialectWebhooks;
}

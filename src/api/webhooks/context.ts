/**
 * What formatting a webhook needs (built at boot, before the HTTP app, on API nodes and
 * `pixelift worker` alike) and what each dialect gives for it. Plain types: nothing here or in
 * the formatters imports Fastify, so a worker formats the bodies its events queue.
 */
import type { WebhookRetryPolicy, WebhookSigner } from '../../delivery/webhooks.js';
import type { WebhookFormatter } from '../../jobs/events.js';
import type { JobStore } from '../../jobs/store.js';
import type { BlobStore } from '../../storage/blob-store.js';
import type { Presenter } from '../present.js';

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
  /** The body each event of a job created in this dialect sends (undefined: none for that event). */
  readonly formatter: WebhookFormatter;
  /** Signing scheme name (WebhookDelivery.scheme) → headers. */
  readonly signers?: Readonly<Record<string, WebhookSigner>>;
  readonly policies?: Readonly<Record<string, WebhookRetryPolicy>>;
}

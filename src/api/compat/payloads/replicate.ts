/**
 * A Replicate prediction as it leaves: the prediction object (the HTTP answers in ../replicate.ts
 * and the webhook body alike), and the webhook signed the Standard Webhooks way with the
 * caller's default secret. Plain (no Fastify): `pixelift worker` formats the webhooks too.
 */
import { createHash, createHmac } from 'node:crypto';
import { signStandardWebhook, webhookSecretKey } from '../../../delivery/webhook-signing.js';
import type { Job, JobEvent } from '../../../jobs/types.js';
import type { Presenter } from '../../present.js';
import type { DialectWebhooks, WebhookContext } from '../../webhooks/context.js';
import { resultUrl } from '../results.js';

export const PREFIX = '/compat/replicate';

/** A model's version id: sha256 of its name, stable across servers, 64 hex like Replicate's. */
export function versionOf(name: string): string {
  return createHash('sha256').update(`pixelift:${name}`).digest('hex');
}

/** The default secret of a key: `whsec_` + HMAC(server secret, key id), 32 bytes. */
export function defaultSecretOf(serverSecret: string, keyId: string | null): string {
  const key = createHmac('sha256', webhookSecretKey(serverSecret))
    .update(`replicate-default-webhook-secret:${keyId ?? 'open'}`)
    .digest('base64');
  return `whsec_${key}`;
}

export type WebhookFilter = 'start' | 'output' | 'logs' | 'completed';
export const FILTERS: readonly WebhookFilter[] = ['start', 'output', 'logs', 'completed'];

const STATUS: Record<Job['status'], string> = {
  queued: 'starting',
  running: 'processing',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'canceled',
  expired: 'succeeded',
};

export function replicateWebhooks(ctx: WebhookContext): DialectWebhooks {
  return {
    formatter: { format: (job, event) => webhookOf(job, event, ctx) },
    signers: {
      replicate: async (d, now) => {
        if (!ctx.webhookSecret) return {};
        const job = await ctx.jobs.get(d.jobId);
        return signStandardWebhook({
          secret: defaultSecretOf(ctx.webhookSecret, job?.keyId ?? null),
          id: d.messageId,
          timestamp: Math.floor(now.getTime() / 1000),
          body: d.payload,
        });
      },
    },
  };
}

export function isTerminal(status: Job['status']): boolean {
  return status !== 'queued' && status !== 'running';
}

export function present(
  job: Job,
  deps: { readonly presenter: Presenter },
  base: string,
): Record<string, unknown> {
  const d = job.request.dialectData ?? {};
  const name = String(d.model);
  const succeeded = job.status === 'succeeded' && job.result;
  const runS = job.timings.runMs !== undefined ? job.timings.runMs / 1000 : undefined;
  return {
    id: job.id,
    model: name,
    version: versionOf(name),
    input: d.input ?? {},
    logs: logsOf(job),
    output: succeeded ? resultUrl(job, deps) : null,
    data_removed: job.status === 'expired',
    error: job.status === 'failed' ? (job.error?.message ?? 'failed') : null,
    status: STATUS[job.status],
    created_at: job.createdAt,
    started_at: job.startedAt,
    completed_at: isTerminal(job.status) ? job.finishedAt : null,
    urls: {
      get: `${base}/v1/predictions/${job.id}`,
      cancel: `${base}/v1/predictions/${job.id}/cancel`,
      web: `${base}/v1/predictions/${job.id}`,
    },
    ...(isTerminal(job.status)
      ? { metrics: { ...(runS !== undefined ? { predict_time: runS } : {}), total_time: totalS(job) } }
      : {}),
    pixelift: { model: job.model, warnings: job.warnings, cost: job.cost },
  };
}

function totalS(job: Job): number | undefined {
  return job.finishedAt ? (Date.parse(job.finishedAt) - Date.parse(job.createdAt)) / 1000 : undefined;
}

/** Replicate shows a model's stdout; Pixelift's is its warnings and progress. */
function logsOf(job: Job): string {
  const lines = job.warnings.map((w) => `warning: ${w}`);
  if (job.status === 'running') lines.push(`progress: ${Math.round(job.progress * 100)}%`);
  if (job.status === 'succeeded' && job.result) {
    lines.push(`upscaled with ${job.model} to ${job.result.width}x${job.result.height}`);
  }
  return lines.join('\n');
}

function webhookOf(job: Job, event: JobEvent, ctx: WebhookContext) {
  if (!job.request.webhook) return undefined;
  const filter = (job.request.dialectData?.filter as WebhookFilter[] | undefined) ?? FILTERS;
  const wanted =
    (event.type === 'started' && filter.includes('start')) ||
    (event.type === 'progress' && filter.includes('logs')) ||
    (event.type === 'completed' && (filter.includes('output') || filter.includes('completed'))) ||
    ((event.type === 'failed' || event.type === 'canceled') && filter.includes('completed'));
  if (!wanted) return undefined;
  // A webhook has no request to take the host from: its links use the public URL, the same
  // origin the presenter signs file links under (`<public url>/v1/files/…`).
  const link = ctx.presenter.fileUrl('x', new Date());
  const base = `${link.slice(0, link.indexOf('/v1/files/'))}${PREFIX}`;
  return {
    url: job.request.webhook.url,
    scheme: 'replicate',
    messageId: `msg_${job.id}_${event.id}`,
    payload: JSON.stringify(present(job, ctx, base)),
  };
}

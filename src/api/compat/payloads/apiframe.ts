/**
 * Apiframe's webhooks: the subscribed events' bodies, signed per job with the submitting key's
 * digest. Plain (no Fastify): `pixelift worker` formats them too; ../apiframe.ts shares the ids.
 */
import { createHmac } from 'node:crypto';
import type { Job, JobEvent } from '../../../jobs/types.js';
import type { DialectWebhooks, WebhookContext } from '../../webhooks/context.js';
import { uuidOfJobId } from '../ids.js';
import { resultUrl } from '../results.js';

export const WEBHOOK_EVENTS = ['progress', 'completed', 'failed'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export function apiframeWebhooks(ctx: WebhookContext): DialectWebhooks {
  return {
    formatter: { format: (job, event) => callback(job, event, ctx) },
    signers: {
      // The signing key is per job (the submitting key's digest), so the signer reads the job.
      apiframe: async (d) => {
        const job = await ctx.jobs.get(d.jobId);
        const key = job?.request.dialectData?.signingKey;
        const event = (JSON.parse(d.payload) as { event?: string }).event ?? d.eventType;
        return {
          'x-webhook-event': event,
          ...(typeof key === 'string'
            ? { 'x-webhook-signature': createHmac('sha256', key).update(d.payload).digest('hex') }
            : {}),
        };
      },
    },
  };
}

export function uuidOf(job: Job): string {
  return uuidOfJobId(job.id) ?? job.id;
}

export function modelOf(job: Job): string {
  const m = job.request.dialectData?.model;
  return typeof m === 'string' ? m : (job.model.requested ?? job.model.used);
}

/** Pixelift's event → the Apiframe event it is, for a job subscribed to that event. */
function apiframeEvent(job: Job, type: JobEvent['type']): WebhookEvent | undefined {
  // A start is the move to PROCESSING: reported as progress 0.
  const name: WebhookEvent | undefined =
    type === 'started' || type === 'progress'
      ? 'progress'
      : type === 'completed'
        ? 'completed'
        : type === 'failed' || type === 'canceled'
          ? 'failed'
          : undefined;
  const subscribed = job.request.webhook?.events as readonly string[] | undefined;
  return name && subscribed?.includes(name) ? name : undefined;
}

function callback(job: Job, event: JobEvent, ctx: WebhookContext) {
  const name = apiframeEvent(job, event.type);
  if (!name || !job.request.webhook) return undefined;
  const base = { event: name, jobId: uuidOf(job) };
  let body: Record<string, unknown>;
  if (name === 'progress') {
    const fraction = event.type === 'progress' ? Number(event.data.progress ?? 0) : 0;
    body = { ...base, status: 'PROCESSING', progress: Math.floor(fraction * 100), model: modelOf(job) };
  } else if (name === 'completed') {
    body = {
      ...base,
      status: 'COMPLETED',
      progress: 100,
      result: resultUrl(job, ctx),
      model: modelOf(job),
      creditCost: job.cost,
      completedAt: job.finishedAt,
    };
  } else {
    body = { ...base, status: 'FAILED', error: job.error?.message ?? 'failed', model: modelOf(job) };
  }
  return {
    url: job.request.webhook.url,
    scheme: 'apiframe',
    messageId: `${job.id}_${event.id}`,
    payload: JSON.stringify(body),
  };
}

/**
 * What Runflow's runs look like when they leave: the run's status, output and failure fields
 * (shared by the HTTP answers in ../runflow.ts) and the callback on the terminal state, with its
 * signer and Runflow's own retry policy. Plain (no Fastify): `pixelift worker` formats callbacks too.
 */
import { createHmac } from 'node:crypto';
import type { Job, JobEvent } from '../../../jobs/types.js';
import type { DialectWebhooks, WebhookContext } from '../../webhooks/context.js';
import { durationMs, resultUrl } from '../results.js';

/** Runflow's run statuses. */
export const STATUS: Record<Job['status'], string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  expired: 'succeeded',
};

export function runflowWebhooks(ctx: WebhookContext): DialectWebhooks {
  return {
    formatter: { format: (job, event) => callback(job, event, ctx) },
    signers: {
      runflow: (d) => ({
        'runflow-request-id': d.messageId,
        ...(ctx.runflowSigningSecret
          ? {
              'runflow-signature': createHmac('sha256', ctx.runflowSigningSecret)
                .update(d.payload)
                .digest('hex'),
            }
          : {}),
      }),
    },
    policies: {
      // Runflow documents its own policy (3 attempts, 1 s then 2 s, 5xx only): kept, not the native day-long one.
      runflow: { maxAttempts: 3, schedule: [1000, 2000], jitter: false, retryStatus: (s) => s >= 500 },
    },
  };
}

/** The run's `output` object, or null until it succeeded. */
export function outputOf(job: Job, url: (job: Job) => string | null): Record<string, unknown> | null {
  const r = job.result;
  if (job.status !== 'succeeded' || !r) return null;
  return {
    outputs: [
      {
        url: url(job),
        type: 'image',
        content_type: r.contentType,
        width: r.width,
        height: r.height,
        size_bytes: r.bytes,
      },
    ],
    nsfw_detected: null,
    seed: null,
    timing: {
      queue_ms: job.timings.queueMs ?? null,
      inference_ms: job.timings.inferMs ?? null,
      total_ms: job.timings.runMs ?? null,
    },
  };
}

/** failure_code / failure_stage / failure_message of a failed run. */
export function failureOf(job: Job): Record<string, unknown> {
  if (job.status !== 'failed' || !job.error) return {};
  const code = job.error.code;
  const input = ['image_unreadable', 'image_too_large', 'output_too_large', 'invalid_argument'].includes(
    code,
  );
  return {
    failure_code: input
      ? 'INPUT_VALIDATION_FAILED'
      : code === 'upload_failed'
        ? 'OUTPUT_UPLOAD_FAILED'
        : 'INFERENCE_FAILED',
    failure_stage: input ? 'input' : code === 'upload_failed' ? 'output' : 'inference',
    failure_message: job.error.message,
  };
}

const EVENT: Partial<Record<JobEvent['type'], string>> = {
  completed: 'run.completed',
  failed: 'run.failed',
  canceled: 'run.cancelled',
};

function callback(job: Job, event: JobEvent, ctx: WebhookContext) {
  const name = EVENT[event.type];
  if (!name || !job.request.webhook) return undefined;
  return {
    url: job.request.webhook.url,
    scheme: 'runflow',
    messageId: `req_${job.id}_${event.id}`,
    payload: JSON.stringify({
      event: name,
      run_id: job.id,
      status: STATUS[job.status],
      output: outputOf(job, (j) => resultUrl(j, ctx)),
      ...failureOf(job),
      duration_ms: durationMs(job),
      created_at: job.createdAt,
      completed_at: job.finishedAt,
      metadata: job.metadata,
    }),
  };
}

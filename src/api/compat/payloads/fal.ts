/**
 * fal's results as its queue answers them (../fal.ts) and as its webhook delivers them. Plain
 * (no Fastify): `pixelift worker` formats the webhooks too.
 */
import type { Job, JobEvent } from '../../../jobs/types.js';
import type { Presenter } from '../../present.js';
import type { DialectWebhooks, WebhookContext } from '../../webhooks/context.js';
import { uuidOfJobId } from '../ids.js';
import { resultUrl } from '../results.js';

export function falWebhooks(ctx: WebhookContext): DialectWebhooks {
  return { formatter: { format: (job, event) => webhookOf(job, event, ctx) } };
}

/** The app's output of a finished job, or its error. */
export function outputOf(
  job: Job,
  deps: { readonly presenter: Presenter },
): { output: Record<string, unknown> } | { error: string; status: number } {
  const r = job.result;
  if (job.status === 'canceled') return { error: 'Request was cancelled', status: 400 };
  if (job.status !== 'succeeded' || !r) {
    const input = [
      'image_unreadable',
      'image_too_large',
      'output_too_large',
      'invalid_argument',
      'url_fetch_failed',
    ];
    const code = job.error?.code ?? '';
    return {
      error: job.error?.message ?? `The request ended ${job.status}`,
      status: input.includes(code) ? 422 : 500,
    };
  }
  const ext = r.format === 'jpeg' ? 'jpg' : r.format;
  return {
    output: {
      image: {
        url: resultUrl(job, deps),
        content_type: r.contentType,
        file_name: `${uuidOfJobId(job.id) ?? job.id}.${ext}`,
        file_size: r.bytes,
        width: r.width,
        height: r.height,
      },
      ...(job.warnings.length > 0 ? { pixelift: { warnings: job.warnings, model: job.model } } : {}),
    },
  };
}

function webhookOf(job: Job, event: JobEvent, ctx: WebhookContext) {
  if (!job.request.webhook) return undefined;
  if (event.type !== 'completed' && event.type !== 'failed' && event.type !== 'canceled') return undefined;
  const uuid = uuidOfJobId(job.id) ?? job.id;
  const out = outputOf(job, ctx);
  return {
    url: job.request.webhook.url,
    // fal's own signature needs fal's ED25519 private key; Pixelift signs the Standard Webhooks way.
    scheme: 'standard',
    messageId: `msg_${job.id}_${event.id}`,
    payload: JSON.stringify({
      request_id: uuid,
      gateway_request_id: uuid,
      ...('output' in out
        ? { status: 'OK', payload: out.output, error: null }
        : { status: 'ERROR', payload: { detail: out.error }, error: out.error }),
    }),
  };
}

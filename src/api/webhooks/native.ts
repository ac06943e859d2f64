/** The native dialect's webhook body: Standard Webhooks envelope around the job as /v1 presents it. */
import { webhookEnvelope } from '../../delivery/webhooks.js';
import type { Job } from '../../jobs/types.js';
import { presentEvent } from '../present.js';
import type { DialectWebhooks, WebhookContext } from './context.js';

export function nativeWebhooks(ctx: WebhookContext): DialectWebhooks {
  return {
    formatter: {
      format: (job: Job, event) => ({
        url: job.request.webhook!.url,
        scheme: 'standard',
        messageId: `msg_${event.id}`,
        // Events leave metadata out (jobs/events.ts snapshot); a webhook body carries it, as the job does.
        payload: webhookEnvelope(
          event.type,
          event.type === 'progress'
            ? presentEvent(event, ctx.presenter)
            : { ...presentEvent(event, ctx.presenter), metadata: job.metadata },
          new Date(event.createdAt),
        ),
      }),
    },
  };
}

/** Jobs: get, list (cursor pages), cancel, delete, webhook delivery log and redelivery. */
import type { FastifyInstance } from 'fastify';
import { PixeliftError } from '../../errors.js';
import type { JobStatus } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { presentJob } from '../present.js';
import {
  errorResponses as errors,
  jobIdParams,
  jobListSchema,
  jobSchema,
  listJobsQuery,
  webhookDeliveryListSchema,
  webhookDeliverySchema,
} from '../schemas.js';

/** What these routes use of the API's dependencies. */
export type JobRouteDeps = Uses<{
  jobs: 'service';
  files: 'blobs' | 'presenter';
  webhooks: 'outbox' | 'redeliver';
}>;

export function jobRoutes(app: FastifyInstance, deps: JobRouteDeps): void {
  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      schema: {
        summary: 'Get a job',
        operationId: 'getJob',
        tags: ['jobs'],
        params: jobIdParams,
        response: { 200: jobSchema, ...errors },
      },
    },
    async (request) => {
      const job = await deps.jobs.service.get(request.params.id, request.caller);
      const inline =
        job.result && job.request.output.type !== 'url'
          ? await deps.files.blobs.get(job.result.blobKey)
          : undefined;
      return presentJob(job, deps.files.presenter, { inline });
    },
  );

  app.get<{ Querystring: { status?: JobStatus; limit: number; cursor?: string } }>(
    '/v1/jobs',
    {
      schema: {
        summary: 'List jobs, newest first',
        operationId: 'listJobs',
        tags: ['jobs'],
        querystring: listJobsQuery,
        response: { 200: jobListSchema, ...errors },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      const page = await deps.jobs.service.list(request.caller, { status, limit, cursor });
      return {
        object: 'list',
        data: page.jobs.map((j) => presentJob(j, deps.files.presenter)),
        next_cursor: page.nextCursor,
        has_more: page.nextCursor !== null,
      };
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/jobs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a job (stops its worker)',
        operationId: 'cancelJob',
        tags: ['jobs'],
        params: jobIdParams,
        response: { 200: jobSchema, ...errors },
      },
    },
    async (request) =>
      presentJob(await deps.jobs.service.cancel(request.params.id, request.caller), deps.files.presenter),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/jobs/:id',
    {
      schema: {
        summary: 'Delete a job and its files (cancels it first)',
        operationId: 'deleteJob',
        tags: ['jobs'],
        params: jobIdParams,
        response: { 204: { description: 'Deleted; no body', type: 'null' }, ...errors },
      },
    },
    async (request, reply) => {
      await deps.jobs.service.delete(request.params.id, request.caller);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/webhook/deliveries',
    {
      schema: {
        summary: "The job's webhook delivery log",
        operationId: 'listWebhookDeliveries',
        tags: ['webhooks'],
        params: jobIdParams,
        response: { 200: webhookDeliveryListSchema, ...errors },
      },
    },
    async (request) => {
      const job = await deps.jobs.service.get(request.params.id, request.caller);
      const deliveries = await deps.webhooks.outbox.list(job.id);
      // The endpoint's health, once per URL: failing since its latest finished delivery failed.
      const since = new Map<string, string | null>();
      for (const url of new Set(deliveries.map((d) => d.url))) {
        since.set(url, await deps.webhooks.outbox.endpointFailingSince(url));
      }
      return {
        object: 'list',
        data: deliveries.map((d) => presentDelivery(d, since.get(d.url) ?? null)),
      };
    },
  );

  app.post<{ Params: { id: string }; Body: { delivery_id?: string } | undefined }>(
    '/v1/jobs/:id/webhook/redeliver',
    {
      schema: {
        summary: 'Send a webhook again (the latest delivery, or the one named); same webhook-id',
        operationId: 'redeliverWebhook',
        tags: ['webhooks'],
        params: jobIdParams,
        // An OpenAPI request body object: optional (no body sends the latest delivery again).
        body: {
          required: false,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                properties: { delivery_id: { type: 'string' } },
              },
            },
          },
        },
        response: { 202: webhookDeliverySchema, ...errors },
      },
    },
    async (request, reply) => {
      const job = await deps.jobs.service.get(request.params.id, request.caller);
      const deliveries = await deps.webhooks.outbox.list(job.id);
      const wanted = request.body?.delivery_id;
      const source = wanted ? deliveries.find((d) => d.id === wanted) : deliveries.at(-1);
      if (!job.request.webhook && deliveries.length === 0)
        throw new PixeliftError('webhook_not_configured', { id: job.id });
      if (!source) {
        throw new PixeliftError('invalid_argument', {
          param: 'delivery_id',
          message: wanted
            ? `No delivery "${wanted}" for job ${job.id}`
            : `Job ${job.id} has no delivery to send again yet`,
        });
      }
      const copy = await deps.webhooks.redeliver(source);
      return reply
        .code(202)
        .send(presentDelivery(copy, await deps.webhooks.outbox.endpointFailingSince(copy.url)));
    },
  );
}

function presentDelivery(
  d: import('../../jobs/store.js').WebhookDelivery,
  endpointFailingSince: string | null,
): Record<string, unknown> {
  return {
    id: d.id,
    object: 'webhook_delivery',
    job_id: d.jobId,
    event: d.eventType,
    url: d.url,
    webhook_id: d.messageId,
    status: d.status,
    attempts: d.attempts.map((a) => ({
      at: a.at,
      status_code: a.statusCode,
      error: a.error,
      duration_ms: a.durationMs,
    })),
    next_attempt_at: d.nextAttemptAt,
    created_at: d.createdAt,
    endpoint: {
      status: endpointFailingSince === null ? 'healthy' : 'failing',
      failing_since: endpointFailingSince,
    },
  };
}

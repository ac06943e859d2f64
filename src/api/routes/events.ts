/**
 * SSE: GET /v1/jobs/:id/events (one job: its history, then live, closed after its final event)
 * and GET /v1/events (every job of the caller's key, live; `Last-Event-ID` replays what was
 * missed). Subscribing happens before the replay query, so no event falls between the two.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobEvent } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { presentEvent } from '../present.js';
import { errorResponses, jobIdParams } from '../schemas.js';
import { followEvents } from '../sse.js';

/** What these routes use of the API's dependencies. */
export type EventRouteDeps = Uses<{
  jobs: 'eventLog' | 'events' | 'service';
  files: 'presenter';
  lifecycle: 'shutdownSignal';
  settings: 'heartbeatMs';
}>;

const FINAL = new Set(['completed', 'failed', 'canceled', 'expired']);

/** Where a reconnecting client resumes (the `id:` of the last event it got). */
const resume = {
  type: 'object',
  properties: { 'last-event-id': { type: 'string', description: 'Replay the events after this one' } },
} as const;

const eventStream = {
  200: {
    description:
      'Server-sent events: `event:` is the event type, `data:` the job as JSON (a `progress` event carries id, status, progress and eta_seconds), `id:` the position for `Last-Event-ID`.',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  },
  ...errorResponses,
};

export function eventRoutes(app: FastifyInstance, deps: EventRouteDeps): void {
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    filter: (e: JobEvent) => boolean,
    replay: (afterId: number) => Promise<JobEvent[]>,
    closeOnFinal: boolean,
  ) =>
    followEvents(request, reply, deps, {
      filter,
      replay,
      present: (e) => ({ type: e.type, data: presentEvent(e, deps.files.presenter) }),
      closeAfter: (e) => closeOnFinal && FINAL.has(e.type),
    });

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/events',
    {
      schema: {
        summary: "A job's events as server-sent events (history, then live)",
        operationId: 'streamJobEvents',
        tags: ['events'],
        params: jobIdParams,
        headers: resume,
        response: eventStream,
      },
    },
    async (request, reply) => {
      const job = await deps.jobs.service.get(request.params.id, request.caller);
      await stream(
        request,
        reply,
        (e) => e.jobId === job.id,
        (afterId) => deps.jobs.eventLog.since({ afterId, jobId: job.id }),
        true,
      );
    },
  );

  app.get(
    '/v1/events',
    {
      schema: {
        summary: "Every event of the caller's jobs (live; Last-Event-ID resumes)",
        operationId: 'streamEvents',
        tags: ['events'],
        headers: resume,
        response: eventStream,
      },
    },
    async (request, reply) => {
      const keyId = request.caller.keyId;
      // Open mode sees every job; a key sees its own.
      const mine = (e: JobEvent) => keyId === null || e.keyId === keyId;
      await stream(
        request,
        reply,
        mine,
        async (afterId) =>
          afterId > 0 ? deps.jobs.eventLog.since({ afterId, keyId: keyId === null ? undefined : keyId }) : [],
        false,
      );
    },
  );
}

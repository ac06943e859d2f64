/**
 * SSE: GET /v1/jobs/:id/events (one job: its history, then live, closed after its final event)
 * and GET /v1/events (every job of the caller's key, live; `Last-Event-ID` replays what was
 * missed). Subscribing happens before the replay query, so no event falls between the two.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JobEvent } from '../../jobs/types.js';
import type { ApiDeps } from '../deps.js';
import { presentEvent } from '../present.js';
import { jobIdParams } from '../schemas.js';
import { lastEventId, openSse } from '../sse.js';

const FINAL = new Set(['completed', 'failed', 'canceled', 'expired']);

export function eventRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const stream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    filter: (e: JobEvent) => boolean,
    replay: (afterId: number) => Promise<JobEvent[]>,
    closeOnFinal: boolean,
  ) => {
    const after = lastEventId(request);
    const buffered: JobEvent[] = [];
    let live = false;
    const sse = openSse(request, reply, deps.settings.heartbeatMs);
    let lastSent = after;
    const send = (e: JobEvent) => {
      if (e.id <= lastSent) return;
      lastSent = e.id;
      sse.send({ id: e.id, type: e.type, data: presentEvent(e, deps.presenter) });
      if (closeOnFinal && FINAL.has(e.type)) sse.close();
    };
    const onEvent = (e: JobEvent) => {
      if (!filter(e)) return;
      if (live) send(e);
      else buffered.push(e);
    };
    deps.events.bus.on('event', onEvent);
    const onShutdown = () => sse.close();
    deps.shutdownSignal.addEventListener('abort', onShutdown, { once: true });
    void sse.closed.then(() => {
      deps.events.bus.off('event', onEvent);
      deps.shutdownSignal.removeEventListener('abort', onShutdown);
    });
    for (const e of await replay(after)) send(e);
    for (const e of buffered) send(e);
    live = true;
  };

  app.get<{ Params: { id: string } }>(
    '/v1/jobs/:id/events',
    {
      schema: {
        summary: "A job's events as server-sent events (history, then live)",
        tags: ['events'],
        params: jobIdParams,
      },
    },
    async (request, reply) => {
      const job = await deps.service.get(request.params.id, request.caller);
      await stream(
        request,
        reply,
        (e) => e.jobId === job.id,
        (afterId) => deps.eventLog.since({ afterId, jobId: job.id }),
        true,
      );
    },
  );

  app.get(
    '/v1/events',
    {
      schema: { summary: "Every event of the caller's jobs (live; Last-Event-ID resumes)", tags: ['events'] },
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
          afterId > 0 ? deps.eventLog.since({ afterId, keyId: keyId === null ? undefined : keyId }) : [],
        false,
      );
    },
  );
}

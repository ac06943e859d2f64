/**
 * Mounting a dialect: its routes under its prefix, inside the API's rate-limited scope, with its
 * own error shape for everything that fails there.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PixeliftError } from '../../errors.js';
import { toPixeliftError } from '../errors.js';

/** A dialect's error body and status for a Pixelift error. */
export type ErrorPresenter = (
  err: PixeliftError,
  request: FastifyRequest,
) => { status: number; body: unknown; headers?: Record<string, string> };

/**
 * Mount a dialect: its routes under `prefix`, its own error shape for everything that fails
 * there (auth, rate limit, validation, unknown route), inside the API's rate-limited scope.
 */
export async function mountDialect(
  api: FastifyInstance,
  prefix: string,
  present: ErrorPresenter,
  routes: (app: FastifyInstance) => void,
): Promise<void> {
  await api.register(
    async (app) => {
      const send = (request: FastifyRequest, reply: FastifyReply, raw: Error) => {
        const err = toPixeliftError(raw, request);
        if (err.code === 'internal') request.log.error({ err: raw }, 'request failed');
        const { status, body, headers } = present(err, request);
        const retryAfter = err.details.retryAfter;
        if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
        for (const [k, v] of Object.entries(headers ?? {})) reply.header(k, v);
        return reply.code(status).type('application/json').send(body);
      };
      app.setErrorHandler((err, request, reply) => send(request, reply, err as Error));
      app.setNotFoundHandler((request, reply) =>
        send(
          request,
          reply,
          new PixeliftError('route_not_found', { method: request.method, url: request.url.split('?')[0] }),
        ),
      );
      routes(app);
    },
    { prefix },
  );
}

/** Request helpers every route and dialect shares: header values, `Prefer: wait`, client disconnects. */
import type { FastifyInstance, FastifyRequest } from 'fastify';

export function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s && s.trim() !== '' ? s.trim() : undefined;
}

/** `Prefer: wait=N` (RFC 7240), capped at `max`. */
export function preferWait(request: FastifyRequest, max: number): number | undefined {
  const prefer = header(request, 'prefer');
  const m = prefer && /(?:^|[,;\s])wait=(\d+)/i.exec(prefer);
  if (!m) return undefined;
  return Math.min(Number(m[1]), max);
}

/** Aborts when the client goes away (stops a URL fetch nobody waits for). */
export function abortOnClose(request: FastifyRequest): AbortController {
  const controller = new AbortController();
  request.raw.once('close', () => {
    if (!request.raw.complete) controller.abort();
  });
  return controller;
}

/**
 * In this plugin scope, `Content-Type: application/json` with an empty body is no body (the
 * Replicate and fal clients send that header on GET and cancel); anything else parses as usual.
 */
export function acceptEmptyJson(app: FastifyInstance, bodyLimit: number): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else json(request, body as string, done);
  });
}

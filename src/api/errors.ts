/**
 * One error envelope for every failure: `{error: {code, message, param?, details?}}`, with the
 * status from the registry (src/errors.ts). Fastify's own errors (validation, body parsing,
 * body size, media type) are translated into registry codes so that clients see one shape.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isPixeliftError, PixeliftError } from '../errors.js';

interface AjvIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: Record<string, unknown>;
}

/** `/output/format` → `output.format`, with the property a `required`/`additionalProperties` names. */
export function fieldOf(issue: AjvIssue): string {
  const base = issue.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const extra = (issue.params.missingProperty ?? issue.params.additionalProperty) as string | undefined;
  return [base, extra].filter(Boolean).join('.');
}

export function validationError(issues: readonly AjvIssue[], where = 'body'): PixeliftError {
  const issue = issues[0]!;
  const field = fieldOf(issue) || where;
  let message: string;
  if (issue.keyword === 'required') message = `Missing required field "${field}"`;
  else if (issue.keyword === 'additionalProperties') message = `Unknown field "${field}"`;
  else if (issue.keyword === 'enum') {
    message = `Field "${field}" must be one of ${(issue.params.allowedValues as unknown[]).join(', ')}`;
  } else message = `Field "${field}" ${issue.message ?? 'is invalid'}`;
  return new PixeliftError('invalid_argument', { param: field, message });
}

/**
 * Fastify's and plugins' errors, as registry errors. `request` fills what the error itself does
 * not carry (the Content-Type sent, the route's body limit), so no message is left with a hole.
 */
export function toPixeliftError(err: FastifyError | Error, request?: FastifyRequest): PixeliftError {
  if (isPixeliftError(err)) return err;
  const e = err as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (e.validation) return validationError(e.validation, e.validationContext);
  const tooLarge = () =>
    new PixeliftError('body_too_large', {
      // Fastify's own default (1 MiB) when no request says which limit the route had.
      limit: request?.routeOptions.bodyLimit ?? request?.server.initialConfig.bodyLimit ?? 1_048_576,
    });
  const unsupported = () =>
    new PixeliftError('unsupported_media_type', {
      contentType: request?.headers['content-type'] ?? '(none)',
      expected: 'application/json or multipart/form-data (POST /v1/uploads also takes image/* bytes)',
    });
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return tooLarge();
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_INVALID_MULTIPART_CONTENT_TYPE':
      return unsupported();
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PixeliftError('invalid_json', { reason: 'the body is empty' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new PixeliftError('invalid_json', { reason: e.message });
  }
  if (e instanceof SyntaxError && e.statusCode === 400)
    return new PixeliftError('invalid_json', { reason: e.message });
  if (e.statusCode === 413) return tooLarge();
  if (e.statusCode === 415) return unsupported();
  return new PixeliftError('internal', { message: e.message }, { cause: e });
}

/** The envelope; detail fields used only to fill the message stay out of it. */
export function envelope(err: PixeliftError): { error: Record<string, unknown> } {
  const { message: _m, param, ...details } = err.details;
  const body: Record<string, unknown> = { code: err.code, message: err.message };
  if (typeof param === 'string') body.param = param;
  if (Object.keys(details).length > 0) body.details = details;
  return { error: body };
}

export function sendError(
  request: FastifyRequest,
  reply: FastifyReply,
  raw: FastifyError | Error,
): FastifyReply {
  const err = toPixeliftError(raw, request);
  if (err.code === 'internal') request.log.error({ err: raw }, 'request failed');
  else if (err.status >= 500) request.log.warn({ code: err.code, msg: err.message }, 'request failed');
  const retryAfter = err.details.retryAfter;
  if (typeof retryAfter === 'number' && !reply.hasHeader('retry-after'))
    reply.header('retry-after', String(retryAfter));
  return reply.code(err.status).type('application/json').send(envelope(err));
}

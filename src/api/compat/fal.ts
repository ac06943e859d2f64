/**
 * fal (docs.fal.ai, Queue API) under /compat/fal/proxy, in the shape of fal's own server proxy:
 * the official `@fal-ai/client`, configured with `proxyUrl`, sends every request there with the
 * real target in `x-fal-target-url`, and this dialect routes on that URL:
 *
 * - `POST https://queue.fal.run/{app}[?fal_webhook=…]` → `{request_id, response_url, status_url,
 *   cancel_url, status: IN_QUEUE, queue_position}`
 * - `GET …/{app}/requests/{id}/status[?logs=1]` → IN_QUEUE | IN_PROGRESS | COMPLETED (202 until done)
 * - `GET …/{app}/requests/{id}` → the app's output (`x-fal-request-id` header)
 * - `PUT …/{app}/requests/{id}/cancel` → 202 CANCELLATION_REQUESTED | 400 ALREADY_COMPLETED
 * - `POST https://fal.run/{app}` → held until done, then the output
 *
 * Only fal's hosts are routed; any other target is refused (412) and never fetched. The request
 * id is a UUID, carried by the job id. `fal_webhook` gets `{request_id, gateway_request_id,
 * status: OK|ERROR, payload, error}` signed with Pixelift's native Standard Webhooks scheme: fal
 * signs its webhooks with its own ED25519 keys (checked against its published JWKS), which
 * nobody but fal holds, so a receiver verifies Pixelift's webhooks with Pixelift's secret instead.
 *
 * Errors are fal's: `{detail: "…"}`, or `{detail: [{loc, msg, type}]}` on a 422.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import { isPixeliftError, PixeliftError } from '../../errors.js';
import type { Caller, ImageInput } from '../../jobs/service.js';
import type { Job } from '../../jobs/types.js';
import type { FileDeps, Uses } from '../deps.js';
import { abortOnClose, acceptEmptyJson, header } from '../http.js';
import type { Dialect } from './dialect.js';
import { kindOf } from './error-kinds.js';
import { type FalApp, falAppOf } from './fal-apps.js';
import { jobIdOfUuid, newUuidJobId, uuidOfJobId } from './ids.js';
import { mountDialect } from './mount.js';
import { outputOf } from './payloads/fal.js';

/** What these routes use of the API's dependencies. */
export type FalDeps = Uses<{
  jobs: 'service';
  files: 'presenter';
  lifecycle: 'shutdownSignal';
  settings: 'bodyLimit' | 'maxWaitSeconds';
}>;

const TARGET = 'x-fal-target-url';
const HOSTS = new Set(['queue.fal.run', 'fal.run']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const fal: Dialect = {
  name: 'fal',

  async mount(api, deps) {
    await mountDialect(api, '/compat/fal', presentError, (app) => routes(app, deps));
  },
};

interface Target {
  readonly host: 'queue.fal.run' | 'fal.run';
  readonly app: string;
  readonly requestId?: string;
  readonly action?: 'status' | 'cancel';
  readonly query: URLSearchParams;
}

/** The `x-fal-target-url` of a request, checked to be one of fal's. */
function targetOf(request: FastifyRequest): Target {
  const raw = header(request, TARGET);
  if (!raw) throw refuse(`Missing the ${TARGET} header`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw refuse(`Invalid ${TARGET}: not a URL`);
  }
  if (url.protocol !== 'https:' || !HOSTS.has(url.hostname) || url.port !== '') {
    throw refuse(
      `Invalid ${TARGET}: ${url.protocol}//${url.host} is not fal (only https://queue.fal.run and https://fal.run are served; nothing else is fetched)`,
    );
  }
  const path = url.pathname.replace(/^\/+|\/+$/g, '');
  const host = url.hostname as Target['host'];
  const m = /^(.+?)\/requests\/([^/]+)(?:\/(status|cancel))?$/.exec(path);
  if (host === 'queue.fal.run' && m) {
    return { host, app: m[1]!, requestId: m[2]!, action: m[3] as Target['action'], query: url.searchParams };
  }
  return { host, app: path, query: url.searchParams };
}

/** What /compat/fal/openapi.json says the proxy answers (documented only). */
const queueDoc = {
  type: 'object',
  description: "A queue entry (submit, status), or for a result or a run, the app's output",
  properties: {
    status: { type: 'string', enum: ['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED', 'CANCELLATION_REQUESTED'] },
    request_id: { type: 'string' },
    response_url: { type: 'string' },
    status_url: { type: 'string' },
    cancel_url: { type: 'string' },
    queue_position: { type: 'integer' },
    logs: { type: 'array', nullable: true, items: { type: 'object', additionalProperties: true } },
  },
  additionalProperties: true,
} as const;
const errorDoc = {
  description: 'fal error: `detail` is a message or a list of validation problems',
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ALREADY_COMPLETED'] },
    detail: {
      oneOf: [
        { type: 'string' },
        {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              loc: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'integer' }] } },
              msg: { type: 'string' },
              type: { type: 'string' },
            },
          },
        },
      ],
    },
  },
} as const;

function routes(app: FastifyInstance, deps: FalDeps): void {
  // The client sends `Content-Type: application/json` with no body on GET and on cancel.
  acceptEmptyJson(app, deps.settings.bodyLimit);

  app.route({
    method: ['GET', 'POST', 'PUT'],
    url: '/proxy',
    schema: {
      hide: true,
      summary: "fal's queue and run API through the client's proxy",
      operationId: 'proxy',
      documentedResponse: { 200: queueDoc, 202: queueDoc, '4XX': errorDoc, '5XX': errorDoc },
      // Documented, not validated by Fastify: the handler answers fal's own errors.
      documentedHeaders: {
        type: 'object',
        required: ['x-fal-target-url'],
        properties: {
          'x-fal-target-url': {
            type: 'string',
            description:
              'The fal URL the client means: POST https://queue.fal.run/{app}, GET …/requests/{id}/status, GET …/requests/{id}, PUT …/requests/{id}/cancel, POST https://fal.run/{app}',
          },
        },
      },
      documentedBody: { type: 'object', additionalProperties: true, description: "The app's input (POST)" },
    },
    handler: async (request, reply) => {
      const target = targetOf(request);
      const method = request.method;
      if (target.requestId === undefined) {
        if (method !== 'POST') throw refuse(`${method} ${target.host}/${target.app} is not a fal route`, 405);
        return submit(request, reply, target, deps);
      }
      const job = await jobOf(target.requestId, request.caller, deps);
      if (target.action === 'status' && method === 'GET') return status(reply, job, target, deps);
      if (target.action === 'cancel' && method === 'PUT') return cancel(reply, job, request.caller, deps);
      if (target.action === undefined && method === 'GET') return result(reply, job, deps.files);
      throw refuse(`${method} is not a fal route for ${target.app}/requests/${target.requestId}`, 405);
    },
  });
}

async function submit(request: FastifyRequest, reply: FastifyReply, target: Target, deps: FalDeps) {
  const app = falAppOf(target.app);
  if (!app) throw falError(404, `Application '${target.app}' not found`);
  const input = (request.body ?? {}) as Record<string, unknown>;
  if (typeof input !== 'object' || Array.isArray(input))
    throw invalid(['body'], 'Input should be an object', 'type_error');
  const problems = app.validate(input);
  if (problems.length > 0) {
    throw new PixeliftError('invalid_argument', {
      message: problems[0]!.msg,
      fal: { status: 422, body: { detail: problems } },
    });
  }
  const t = app.translate(input);
  const webhook =
    target.host === 'queue.fal.run' ? (target.query.get('fal_webhook') ?? undefined) : undefined;
  const { uuid, jobId } = newUuidJobId();
  const { job } = await deps.jobs.service.submit(
    {
      id: jobId,
      image: imageOf(String(input.image_url)),
      model: t.model,
      scale: t.scale,
      ...(t.knobs ?? {}),
      output: { format: t.format, type: 'url' },
      ...(webhook ? { webhook: { url: webhook, events: ['completed', 'failed', 'canceled'] as const } } : {}),
      dialect: 'fal',
      dialectData: { app: target.app },
      warnings: t.warnings,
    },
    request.caller,
    undefined,
    abortOnClose(request).signal,
  );
  reply.header('x-fal-request-id', uuid);
  if (target.host === 'fal.run') {
    // The synchronous form: held until the job ends, like fal's.
    const done = await deps.jobs.service.wait(
      job.id,
      request.caller,
      deps.settings.maxWaitSeconds * 1000,
      deps.lifecycle.shutdownSignal,
    );
    if (done.status === 'queued' || done.status === 'running') {
      throw falError(
        504,
        `The request did not finish within ${deps.settings.maxWaitSeconds} s; use the queue`,
      );
    }
    return result(reply, done, deps.files);
  }
  const urls = urlsOf(target.app, uuid);
  return reply.code(200).send({
    status: 'IN_QUEUE',
    request_id: uuid,
    ...urls,
    queue_position: (await deps.jobs.service.queuePosition(job)) ?? 0,
  });
}

function urlsOf(app: string, uuid: string) {
  const base = `https://queue.fal.run/${app}/requests/${uuid}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

async function jobOf(requestId: string, caller: Caller, deps: FalDeps): Promise<Job> {
  if (!UUID.test(requestId)) throw falError(404, `Request ${requestId} not found`);
  try {
    const job = await deps.jobs.service.get(jobIdOfUuid(requestId), caller);
    if (job.request.dialect !== 'fal') throw falError(404, `Request ${requestId} not found`);
    return job;
  } catch (err) {
    if (isPixeliftError(err) && err.status === 404) throw falError(404, `Request ${requestId} not found`);
    throw err;
  }
}

async function status(reply: FastifyReply, job: Job, target: Target, deps: FalDeps) {
  const uuid = uuidOfJobId(job.id)!;
  const urls = urlsOf(String(job.request.dialectData?.app ?? target.app), uuid);
  const withLogs = target.query.get('logs') === '1';
  const logs = withLogs ? logsOf(job) : null;
  if (job.status === 'queued') {
    // A job that left the queue since it was read answers 0 here and IN_PROGRESS on the next poll.
    const queue_position = (await deps.jobs.service.queuePosition(job)) ?? 0;
    return reply.code(202).send({ status: 'IN_QUEUE', request_id: uuid, ...urls, queue_position });
  }
  if (job.status === 'running') {
    return reply.code(202).send({ status: 'IN_PROGRESS', request_id: uuid, ...urls, logs });
  }
  return reply.code(200).send({
    status: 'COMPLETED',
    request_id: uuid,
    ...urls,
    logs,
    metrics: job.timings.runMs !== undefined ? { inference_time: job.timings.runMs / 1000 } : {},
  });
}

function logsOf(job: Job): { message: string; level: string; source: string; timestamp: string }[] {
  const at = job.startedAt ?? job.createdAt;
  const lines = job.warnings.map((w) => ({ message: w, level: 'WARN', source: 'user', timestamp: at }));
  if (job.status === 'running') {
    lines.push({
      message: `progress ${Math.round(job.progress * 100)}%`,
      level: 'INFO',
      source: 'user',
      timestamp: new Date().toISOString(),
    });
  }
  return lines;
}

async function cancel(reply: FastifyReply, job: Job, caller: Caller, deps: FalDeps) {
  if (job.status !== 'queued' && job.status !== 'running') {
    return reply.code(400).send({ status: 'ALREADY_COMPLETED' });
  }
  try {
    await deps.jobs.service.cancel(job.id, caller);
  } catch (err) {
    if (isPixeliftError(err) && err.status === 409)
      return reply.code(400).send({ status: 'ALREADY_COMPLETED' });
    throw err;
  }
  return reply.code(202).send({ status: 'CANCELLATION_REQUESTED' });
}

function result(reply: FastifyReply, job: Job, files: Pick<FileDeps, 'presenter'>) {
  reply.header('x-fal-request-id', uuidOfJobId(job.id) ?? job.id);
  if (job.status === 'queued' || job.status === 'running') {
    return reply.code(400).send({ detail: 'Request is still in progress' });
  }
  const out = outputOf(job, files);
  if ('error' in out) return reply.code(out.status).send({ detail: out.error });
  return reply.code(200).send(out.output);
}

function imageOf(value: string): ImageInput {
  try {
    return parseImageField(value);
  } catch (err) {
    if (isPixeliftError(err)) throw new PixeliftError(err.code, { ...err.details, param: 'image_url' });
    throw err;
  }
}

// --- errors ----------------------------------------------------------------------------------

function falError(status: number, detail: string): PixeliftError {
  return new PixeliftError('invalid_argument', { message: detail, fal: { status, body: { detail } } });
}

function refuse(detail: string, status = 412): PixeliftError {
  return falError(status, detail);
}

function invalid(loc: (string | number)[], msg: string, type: string): PixeliftError {
  return new PixeliftError('invalid_argument', {
    message: msg,
    fal: { status: 422, body: { detail: [{ loc, msg, type }] } },
  });
}

function presentError(err: PixeliftError) {
  const own = err.details.fal as { status: number; body: unknown } | undefined;
  if (own) return { status: own.status, body: own.body };
  const kind = kindOf(err);
  const param = typeof err.details.param === 'string' ? err.details.param : undefined;
  if (kind === 'validation' && err.status < 500) {
    return {
      status: 422,
      body: { detail: [{ loc: ['body', ...(param ? [param] : [])], msg: err.message, type: err.code }] },
    };
  }
  return { status: err.status, body: { detail: err.message } };
}

export type { FalApp };

/**
 * Oxen.ai (docs.oxen.ai, model `topazlabs-image-upscale`) under /compat/oxen:
 * sync `POST /api/ai/images/edit` → `{model, created, images: [{url} | {b64_json}]}`;
 * async `POST /api/ai/queue` → `{generations: [{generation_id, status}]}`, read back with
 * `GET /api/ai/queue/{id}`, listed with `GET /api/ai/queue`, cancelled with `DELETE /api/ai/queue/{id}`;
 * `GET /api/events`, server-sent events `media_generation_completed` / `_failed` / `_cancelled`
 * whose data line is the generation, compact JSON; `GET /api/ai/models[/{id}]` with the request
 * schema the routes validate with. Generation ids are UUIDs (the job id carries them).
 * Errors: Oxen's envelope `{status: "error", status_message, status_description}`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import { ERRORS, type ErrorCode, PixeliftError } from '../../errors.js';
import { CREDITS_PER_MEGAPIXEL } from '../../jobs/cost.js';
import type { Caller } from '../../jobs/service.js';
import type { Job, JobEvent, JobEventType, JobStatus } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { abortOnClose } from '../http.js';
import { followEvents } from '../sse.js';
import type { Dialect } from './dialect.js';
import { kindOf, paramOf } from './error-kinds.js';
import { isUuid, jobIdOfUuid, newUuidJobId, uuidOfJobId } from './ids.js';
import { mountDialect } from './mount.js';
import { resultBytes, resultUrl } from './results.js';
import { factorOf, formatOf, TOPAZ_ENHANCE_MODELS } from './topaz.js';

/** What these routes use of the API's dependencies. */
export type OxenDeps = Uses<{
  jobs: 'eventLog' | 'events' | 'service';
  files: 'blobs' | 'presenter';
  models: 'store';
  lifecycle: 'shutdownSignal';
  settings: 'heartbeatMs' | 'maxWaitSeconds';
}>;

const MODEL_ID = 'topazlabs-image-upscale';

/**
 * The model's parameters as Oxen documents them (types, enums, defaults), plus `model` and
 * `response_format`. The routes validate with this object (ajv fills the defaults in) and
 * `GET /api/ai/models/topazlabs-image-upscale` publishes it, so the two cannot drift.
 */
const editBody = {
  type: 'object',
  required: ['model', 'input_image'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', enum: [MODEL_ID], description: 'Model ID' },
    input_image: {
      type: 'string',
      // A URL or a data URI. (Published with `format: uri` too, as Oxen's schema has it; the body
      // validator knows no formats and would warn about it at every compile.)
      pattern: '^(?:https?://|data:)',
      description:
        'Image to use as reference. Must be jpeg, png, gif, or webp (an http(s) URL or a data URI).',
    },
    enhance_model: {
      type: 'string',
      enum: TOPAZ_ENHANCE_MODELS,
      default: 'High Fidelity V2',
      description:
        'Models to Use: Standard V2 (general purpose), Low Resolution V2 (for low-res images), CGI (for digital art), High Fidelity V2 (preserves details), Text Refine (optimized for text)',
    },
    upscale_factor: {
      type: 'string',
      enum: ['4x', '2x'],
      default: '2x',
      description: 'How much to upscale the image',
    },
    output_format: {
      type: 'string',
      enum: ['jpg', 'png'],
      default: 'png',
      description: 'Format of the output images',
    },
    response_format: {
      type: 'string',
      enum: ['url', 'b64_json'],
      default: 'url',
      description: '"url" returns a hosted URL; "b64_json" returns the image base64-encoded inline.',
    },
  },
} as const;

/** The queue takes the same body plus its own two fields. */
const queueBody = {
  ...editBody,
  properties: {
    ...editBody.properties,
    num_generations: {
      type: 'integer',
      minimum: 1,
      maximum: 4,
      default: 1,
      description: 'How many generations to enqueue per request.',
    },
    target_namespace: { type: 'string', description: 'Namespace to store results and bill to.' },
  },
} as const;

/** The request schema as GET /api/ai/models/{id} publishes it: the validated one, plus formats. */
const publishedSchema = {
  ...editBody,
  properties: { ...editBody.properties, input_image: { ...editBody.properties.input_image, format: 'uri' } },
} as const;

/** After validation: ajv has filled every default in. */
interface EditBody {
  model: typeof MODEL_ID;
  input_image: string;
  enhance_model: string;
  upscale_factor: '2x' | '4x';
  output_format: 'jpg' | 'png';
  response_format: 'url' | 'b64_json';
}
interface QueueBody extends EditBody {
  num_generations: number;
  target_namespace?: string;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

/** Oxen's generation statuses (its QueueGenerationResponse enum). */
const STATUS: Record<JobStatus, string> = {
  queued: 'queued',
  running: 'processing',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  // The generation did succeed; its file was swept after the TTL (result_url is null).
  expired: 'succeeded',
};
const STATUS_FILTER: Record<string, JobStatus> = {
  queued: 'queued',
  processing: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'canceled',
};

/** The SSE event each ending sends (Oxen documents `media_generation_completed`). */
const END_EVENTS: Partial<Record<JobEventType, string>> = {
  completed: 'media_generation_completed',
  failed: 'media_generation_failed',
  canceled: 'media_generation_cancelled',
};

/**
 * How far back a new SSE connection (no Last-Event-ID) replays endings. Oxen's examples enqueue
 * first and subscribe after; a small upscale here ends in well under a second, so without this
 * the client would wait forever for an event sent before it connected.
 */
const RECENT_ENDINGS_MS = 60_000;
const RECENT_ENDINGS_MAX = 1000;

export const oxen: Dialect = {
  name: 'oxen',

  async mount(api, deps) {
    const recent = recentEndings(deps);
    await mountDialect(api, '/compat/oxen', presentError, (app) => routes(app, deps, recent));
  },
};

/** What /compat/oxen/openapi.json says the routes answer (documented only; the handlers shape the bodies). */
const generationDoc = {
  type: 'object',
  required: ['generation_id', 'status', 'model'],
  properties: {
    generation_id: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'processing', 'succeeded', 'failed', 'cancelled'] },
    model: { type: 'string' },
    media_type: { type: 'string' },
    result_url: { type: 'string', nullable: true },
    error_message: { type: 'string', nullable: true },
    progress: { type: 'number' },
    created_at: { type: 'integer', description: 'Unix seconds' },
    started_at: { type: 'integer', nullable: true },
    completed_at: { type: 'integer', nullable: true },
    input_image: { type: 'string', nullable: true },
    warnings: { type: 'array', items: { type: 'string' } },
    pixelift: { type: 'object', additionalProperties: true },
  },
  additionalProperties: true,
} as const;
const generationsDoc = {
  type: 'object',
  required: ['generations'],
  properties: {
    generations: { type: 'array', items: generationDoc },
    next_cursor: { type: 'string', nullable: true },
    has_more: { type: 'boolean' },
  },
} as const;
const editDoc = {
  type: 'object',
  required: ['model', 'created', 'images'],
  properties: {
    model: { type: 'string' },
    created: { type: 'integer' },
    images: {
      type: 'array',
      items: {
        type: 'object',
        properties: { url: { type: 'string', nullable: true }, b64_json: { type: 'string', nullable: true } },
      },
    },
    generation_id: { type: 'string' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;
const modelDoc = {
  type: 'object',
  required: ['id', 'object'],
  properties: { id: { type: 'string' }, object: { type: 'string', enum: ['model'] } },
  additionalProperties: true,
} as const;
const modelListDoc = {
  type: 'object',
  required: ['object', 'data'],
  properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: modelDoc } },
} as const;
const errorDoc = {
  description: 'Oxen error',
  type: 'object',
  required: ['status', 'status_message', 'status_description'],
  properties: {
    status: { type: 'string', enum: ['error'] },
    status_message: { type: 'string' },
    status_description: { type: 'string' },
    code: { type: 'string' },
    param: { type: 'string' },
    generation_id: { type: 'string' },
  },
} as const;
const errors = { '4XX': errorDoc, '5XX': errorDoc };

function routes(app: FastifyInstance, deps: OxenDeps, recent: () => JobEvent[]): void {
  app.post<{ Body: EditBody }>(
    '/api/ai/images/edit',
    {
      schema: {
        hide: true,
        summary: 'Upscale an image, waiting for the result',
        operationId: 'editImage',
        documentedResponse: { 200: editDoc, ...errors },
        body: editBody,
      },
    },
    async (request, reply) => {
      const job = await submit(request.body, request.caller, deps, [], abortOnClose(request).signal);
      // The sync route has to hold the request: as long as PIXELIFT_MAX_WAIT allows, until the
      // client leaves, or until shutdown. The job goes on either way (it is in the queue).
      const waitS = deps.settings.maxWaitSeconds;
      const gone = new AbortController();
      reply.raw.once('close', () => gone.abort());
      const done = await deps.jobs.service.wait(
        job.id,
        request.caller,
        waitS * 1000,
        AbortSignal.any([gone.signal, deps.lifecycle.shutdownSignal]),
      );
      if (done.status === 'succeeded') {
        const image =
          request.body.response_format === 'b64_json'
            ? { b64_json: (await resultBytes(done, deps.files))?.toString('base64') ?? null }
            : { url: resultUrl(done, deps.files) };
        return {
          model: MODEL_ID,
          created: unix(done.createdAt),
          images: [image],
          generation_id: generationId(done),
          warnings: done.warnings,
        };
      }
      if (done.status === 'failed' || done.status === 'canceled') return sendJobError(reply, done);
      if (deps.lifecycle.shutdownSignal.aborted) throw new PixeliftError('shutting_down');
      const id = generationId(done);
      throw new PixeliftError('wait_timeout', {
        id,
        seconds: waitS,
        hint: `poll GET /api/ai/queue/${id}, or enqueue with POST /api/ai/queue`,
      });
    },
  );

  app.post<{ Body: QueueBody }>(
    '/api/ai/queue',
    {
      schema: {
        hide: true,
        summary: 'Queue upscale generations',
        operationId: 'queueGenerations',
        documentedResponse: { 200: generationsDoc, ...errors },
        body: queueBody,
      },
    },
    async (request) => {
      const body = request.body;
      const warnings: string[] = [];
      if (body.target_namespace !== undefined) {
        warnings.push(
          `target_namespace "${body.target_namespace}" is ignored: Pixelift has no namespaces; the generation belongs to the API key that enqueued it.`,
        );
      }
      if (body.response_format === 'b64_json') {
        warnings.push(
          'response_format "b64_json" applies to POST /api/ai/images/edit; a queued generation hands its image back as result_url.',
        );
      }
      const signal = abortOnClose(request).signal;
      const generations: Record<string, unknown>[] = [];
      // Oxen enqueues num_generations independent runs; for an upscaler they are the same image.
      for (let i = 0; i < body.num_generations; i++) {
        const job = await submit(body, request.caller, deps, warnings, signal);
        generations.push(presentGeneration(job, deps));
      }
      return { generations };
    },
  );

  app.get<{ Querystring: { status?: string; model?: string; limit: number; cursor?: string } }>(
    '/api/ai/queue',
    {
      schema: {
        hide: true,
        summary: 'List generations',
        operationId: 'listGenerations',
        documentedResponse: { 200: generationsDoc, ...errors },
        querystring: {
          type: 'object',
          properties: {
            status: { type: 'string', enum: [...Object.keys(STATUS_FILTER), 'all'] },
            model: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            cursor: { type: 'string' },
          },
        },
      },
    },
    async (request) => {
      const { status, model, limit, cursor } = request.query;
      if (model !== undefined && model !== MODEL_ID) {
        return { generations: [], next_cursor: null, has_more: false };
      }
      if (status === undefined) {
        // Oxen's default view: the generations still in flight, all of them (the queue depth bounds it).
        const active = [
          ...(await everyJob(deps, request.caller, 'queued')),
          ...(await everyJob(deps, request.caller, 'running')),
        ].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
        return {
          generations: active.map((j) => presentGeneration(j, deps)),
          next_cursor: null,
          has_more: false,
        };
      }
      const page = await deps.jobs.service.list(request.caller, {
        status: status === 'all' ? undefined : STATUS_FILTER[status],
        limit,
        cursor,
      });
      return {
        generations: page.jobs.map((j) => presentGeneration(j, deps)),
        next_cursor: page.nextCursor,
        has_more: page.nextCursor !== null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/ai/queue/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a generation',
        operationId: 'getGeneration',
        documentedResponse: { 200: generationDoc, ...errors },
        params: idParams,
      },
    },
    async (request) =>
      presentGeneration(await deps.jobs.service.get(jobIdOf(request.params.id), request.caller), deps),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/ai/queue/:id',
    {
      schema: {
        hide: true,
        summary: 'Cancel a generation',
        operationId: 'cancelGeneration',
        documentedResponse: { 200: generationDoc, ...errors },
        params: idParams,
      },
    },
    async (request) =>
      presentGeneration(await deps.jobs.service.cancel(jobIdOf(request.params.id), request.caller), deps),
  );

  app.get(
    '/api/events',
    {
      schema: {
        hide: true,
        summary: 'Generation events (server-sent events)',
        operationId: 'streamEvents',
        documentedResponse: {
          200: {
            description: 'Server-sent events: media_generation_completed, _failed, _cancelled',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const keyId = request.caller.keyId;
      // Open mode sees every job; a key sees its own.
      const mine = (e: JobEvent) => keyId === null || e.keyId === keyId;
      await followEvents(request, reply, deps, {
        filter: (e) => mine(e) && END_EVENTS[e.type] !== undefined,
        replay: (after) =>
          after > 0
            ? deps.jobs.eventLog.since({ afterId: after, keyId: keyId === null ? undefined : keyId })
            : recent().filter(mine),
        // JSON.stringify writes `"generation_id":"…"` with no space, as Oxen's awk example matches it.
        present: (e) => {
          const type = END_EVENTS[e.type];
          return type ? { type, data: presentGeneration(e.data as unknown as Job, deps) } : undefined;
        },
      });
    },
  );

  app.get(
    '/api/ai/models',
    {
      schema: {
        hide: true,
        summary: 'List models',
        operationId: 'listModels',
        documentedResponse: { 200: modelListDoc, ...errors },
      },
    },
    async () => ({
      object: 'list',
      data: [modelObject(deps)],
    }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/ai/models/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a model and its request schema',
        operationId: 'getModel',
        documentedResponse: { 200: modelDoc, ...errors },
        params: idParams,
      },
    },
    async (request) => {
      if (request.params.id !== MODEL_ID)
        throw new PixeliftError('model_not_found', { model: request.params.id });
      return modelObject(deps);
    },
  );
}

async function submit(
  body: EditBody,
  caller: Caller,
  deps: OxenDeps,
  warnings: readonly string[],
  signal: AbortSignal,
): Promise<Job> {
  const { jobId } = newUuidJobId();
  const { job } = await deps.jobs.service.submit(
    {
      id: jobId,
      image: parseImageField(body.input_image),
      model: body.enhance_model,
      scale: factorOf(body.upscale_factor),
      output: { format: formatOf(body.output_format), type: 'url' },
      dialect: 'oxen',
      dialectData: {
        enhance_model: body.enhance_model,
        upscale_factor: body.upscale_factor,
        output_format: body.output_format,
      },
      warnings,
    },
    caller,
    undefined,
    signal,
  );
  return job;
}

/** Every job of the caller in one status, page by page. */
async function everyJob(deps: OxenDeps, caller: Caller, status: JobStatus): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.jobs.service.list(caller, { status, limit: 100, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return jobs;
}

/** Endings of the last RECENT_ENDINGS_MS, oldest first, kept from the bus since mount. */
function recentEndings(deps: OxenDeps): () => JobEvent[] {
  const kept: { at: number; event: JobEvent }[] = [];
  const prune = (now: number) => {
    while (kept.length > 0 && (kept.length > RECENT_ENDINGS_MAX || kept[0]!.at < now - RECENT_ENDINGS_MS)) {
      kept.shift();
    }
  };
  deps.jobs.events.bus.on('event', (event) => {
    if (!END_EVENTS[event.type]) return;
    kept.push({ at: Date.now(), event });
    prune(Date.now());
  });
  return () => {
    prune(Date.now());
    return kept.map((k) => k.event);
  };
}

/** A generation id (UUID) → the job id; anything else (a native `job_…` id) is taken as a job id. */
function jobIdOf(id: string): string {
  return isUuid(id) ? jobIdOfUuid(id) : id;
}

function generationId(job: Job): string {
  return uuidOfJobId(job.id) ?? job.id;
}

function unix(iso: string): number;
function unix(iso: string | null): number | null;
function unix(iso: string | null): number | null {
  return iso === null ? null : Math.floor(Date.parse(iso) / 1000);
}

/** A queue entry: Oxen's fields, the parameters that queued it, and what Pixelift adds. */
function presentGeneration(job: Job, deps: OxenDeps): Record<string, unknown> {
  const params = job.request.dialect === 'oxen' ? (job.request.dialectData ?? {}) : {};
  return {
    generation_id: generationId(job),
    status: STATUS[job.status],
    model: job.request.dialect === 'oxen' ? MODEL_ID : (job.model.requested ?? job.model.used),
    media_type: 'image',
    result_url: job.status === 'succeeded' ? resultUrl(job, deps.files) : null,
    error_message: job.status === 'failed' || job.status === 'canceled' ? (job.error?.message ?? null) : null,
    progress: job.progress,
    created_at: unix(job.createdAt),
    started_at: unix(job.startedAt),
    completed_at: unix(job.finishedAt),
    input_image: /^https?:/i.test(job.request.inputSource) ? job.request.inputSource : null,
    ...params,
    warnings: job.warnings,
    pixelift: {
      job_id: job.id,
      model: job.model,
      output: { width: job.output.width, height: job.output.height, format: job.output.format },
      cost: job.cost,
      refunded: job.refunded,
    },
  };
}

function modelObject(deps: OxenDeps): Record<string, unknown> {
  const served: Record<string, unknown> = {};
  for (const name of TOPAZ_ENHANCE_MODELS) {
    try {
      const { model } = deps.models.store.resolve(name);
      served[name] = { model: model.id, credits_per_megapixel: CREDITS_PER_MEGAPIXEL[model.kind] };
    } catch {
      served[name] = null; // its model is not installed here
    }
  }
  return {
    id: MODEL_ID,
    object: 'model',
    created: null,
    owned_by: 'oxen',
    display_name: 'Topaz Image Upscaler',
    description:
      'Professional-grade image upscaling powered by AI, from Topaz Labs. Served by Pixelift with open models (see pixelift.enhance_models).',
    summary: 'Professional AI image upscaling',
    model_type: 'base',
    endpoint: '/images/edit',
    capabilities: { input: ['image'], output: ['image'] },
    pricing: { method: 'output_megapixel', unit: 'credit', per_enhance_model: served },
    fine_tuning: null,
    deployments: [],
    developer: { name: 'Topaz Labs', logo: null },
    source_model: null,
    image_url: null,
    released_at: null,
    request_schema: publishedSchema,
    json_request_schema: publishedSchema,
    pixelift: { enhance_models: served },
  };
}

/**
 * Native field names in errors from below → Oxen's. (`model` is left alone: the body's own
 * `model` field has that name, and nothing below reports a `model` param.)
 */
const PARAMS = {
  image: 'input_image',
  scale: 'upscale_factor',
  'output.format': 'output_format',
};

/** `status_message` values, in the slug style of Oxen's `{status, status_message}` envelope. */
const MESSAGES: Record<ReturnType<typeof kindOf>, string> = {
  auth: 'unauthenticated',
  credits: 'insufficient_credits',
  rate: 'too_many_requests',
  unavailable: 'service_unavailable',
  not_found: 'resource_not_found',
  validation: 'bad_request',
  conflict: 'conflict',
  internal: 'internal_server_error',
};

function errorBody(code: string, message: string, statusMessage: string, param?: string) {
  return {
    status: 'error',
    status_message: statusMessage,
    status_description: message,
    code,
    ...(param !== undefined ? { param } : {}),
  };
}

function presentError(err: PixeliftError) {
  let statusMessage = MESSAGES[kindOf(err)];
  if (err.status === 404) statusMessage = 'resource_not_found';
  if (err.code === 'wait_timeout') statusMessage = 'gateway_timeout';
  return { status: err.status, body: errorBody(err.code, err.message, statusMessage, paramOf(err, PARAMS)) };
}

/** A sync request whose job failed or was cancelled: the job's error, in the error envelope. */
function sendJobError(reply: FastifyReply, job: Job): FastifyReply {
  const code = job.error?.code ?? 'internal';
  const message = job.error?.message ?? `The generation ${STATUS[job.status]}`;
  const known = code in ERRORS ? (code as ErrorCode) : 'internal';
  const err = new PixeliftError(known, { message });
  const { body } = presentError(err);
  return reply
    .code(ERRORS[known].status)
    .type('application/json')
    .send({ ...body, code, status_description: message, generation_id: generationId(job) });
}

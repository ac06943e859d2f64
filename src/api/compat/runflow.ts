/**
 * Runflow (docs.runflow.io, Topaz Upscale - Image) under /compat/runflow:
 * `POST /v1/models/topaz/upscale/image/runs` {input, callback_url, metadata} → a run;
 * `GET /v1/runs/{id}`; `POST /v1/runs/{id}/cancel`. A run's output is
 * `{outputs[], nsfw_detected, seed, timing}`; a failed run carries failure_code/_stage/_message.
 * Callbacks on the terminal state: `{event, run_id, status, output, duration_ms, created_at,
 * completed_at, metadata}` with `Runflow-Request-Id` always and `Runflow-Signature` (hex
 * HMAC-SHA256 of the raw body) when PIXELIFT_RUNFLOW_SIGNING_SECRET is set; 3 attempts, 1 s and
 * 2 s apart, on 5xx and network errors only. Errors: `{code, message, errors[]}`.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { PixeliftError } from '../../errors.js';
import type { Job, JobEvent } from '../../jobs/types.js';
import type { ApiDeps } from '../deps.js';
import { abortOnClose, header } from '../routes/upscale.js';
import {
  durationMs,
  kindOf,
  mountDialect,
  paramOf,
  resultUrl,
  TOPAZ_MODELS,
  topazToKnobs,
} from './common.js';
import type { Dialect, WebhookContext } from './dialect.js';

const MODEL_ID = 'topaz/upscale/image';
const unit = { type: 'number', minimum: 0, maximum: 1 };

const runBody = {
  type: 'object',
  required: ['input'],
  additionalProperties: false,
  properties: {
    input: {
      type: 'object',
      required: ['image_url'],
      additionalProperties: false,
      properties: {
        image_url: { type: 'string', minLength: 1 },
        model: { type: 'string', enum: TOPAZ_MODELS },
        upscale_factor: { type: 'number', exclusiveMinimum: 0 },
        output_format: { type: 'string', enum: ['jpeg', 'png'] },
        face_enhancement: { type: 'boolean' },
        face_enhancement_strength: unit,
        face_enhancement_creativity: unit,
        subject_detection: { type: 'string', enum: ['All', 'Foreground', 'Background'] },
        sharpen: unit,
        denoise: unit,
        fix_compression: unit,
        detail: unit,
        strength: { type: 'number', minimum: 0.01, maximum: 1 },
        creativity: { type: 'integer', minimum: 1, maximum: 6 },
        texture: { type: 'integer', minimum: 1, maximum: 5 },
        prompt: { type: 'string', maxLength: 1024 },
        autoprompt: { type: 'boolean' },
        crop_to_fill: { type: 'boolean' },
      },
    },
    callback_url: { type: ['string', 'null'] },
    metadata: { type: ['object', 'null'] },
  },
} as const;

interface RunInput {
  image_url: string;
  model?: string;
  upscale_factor?: number;
  output_format?: 'jpeg' | 'png';
  face_enhancement?: boolean;
  face_enhancement_strength?: number;
  face_enhancement_creativity?: number;
  subject_detection?: string;
  sharpen?: number;
  denoise?: number;
  fix_compression?: number;
  detail?: number;
  strength?: number;
  creativity?: number;
  texture?: number;
  prompt?: string;
  autoprompt?: boolean;
  crop_to_fill?: boolean;
}
interface RunBody {
  input: RunInput;
  callback_url?: string | null;
  metadata?: Record<string, unknown> | null;
}

/** Runflow's run statuses. */
const STATUS: Record<Job['status'], string> = {
  queued: 'queued',
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed',
  canceled: 'cancelled',
  expired: 'succeeded',
};

export const runflow: Dialect = {
  name: 'runflow',

  async mount(api, deps) {
    await mountDialect(api, '/compat/runflow', presentError, (app) => routes(app, deps));
  },

  webhooks(ctx) {
    return {
      formatter: (job, event) => callback(job, event, ctx),
      signers: {
        runflow: (d) => ({
          'runflow-request-id': d.messageId,
          ...(ctx.runflowSigningSecret
            ? {
                'runflow-signature': createHmac('sha256', ctx.runflowSigningSecret)
                  .update(d.payload)
                  .digest('hex'),
              }
            : {}),
        }),
      },
      policies: {
        // Runflow documents its own policy (3 attempts, 1 s then 2 s, 5xx only): kept, not the native day-long one.
        runflow: { maxAttempts: 3, schedule: [1000, 2000], jitter: false, retryStatus: (s) => s >= 500 },
      },
    };
  },
};

/** What /compat/runflow/openapi.json says the routes answer (documented only; the handlers shape the bodies). */
const ts = { type: 'string', format: 'date-time' } as const;
const runDoc = {
  type: 'object',
  required: ['id', 'object', 'model', 'status', 'output', 'created_at'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['run'] },
    model: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
    output: {
      type: 'object',
      nullable: true,
      properties: {
        outputs: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              url: { type: 'string' },
              type: { type: 'string' },
              content_type: { type: 'string' },
              width: { type: 'integer' },
              height: { type: 'integer' },
              size_bytes: { type: 'integer' },
            },
          },
        },
        nsfw_detected: { type: 'boolean', nullable: true },
        seed: { type: 'integer', nullable: true },
        timing: { type: 'object', additionalProperties: { type: 'number', nullable: true } },
      },
    },
    failure_code: { type: 'string' },
    failure_stage: { type: 'string' },
    failure_message: { type: 'string' },
    metadata: { type: 'object', nullable: true, additionalProperties: true },
    callback_url: { type: 'string', nullable: true },
    warnings: { type: 'array', items: { type: 'string' } },
    created_at: ts,
    started_at: { ...ts, nullable: true },
    completed_at: { ...ts, nullable: true },
    duration_ms: { type: 'number', nullable: true },
    pixelift: { type: 'object', additionalProperties: true },
  },
} as const;
const errorDoc = {
  description: 'Runflow error',
  type: 'object',
  required: ['code', 'message', 'errors'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          field: { type: 'string', nullable: true },
          message: { type: 'string' },
          code: { type: 'string' },
        },
      },
    },
  },
} as const;
const runResponses = (status: 200 | 201) => ({ [status]: runDoc, '4XX': errorDoc, '5XX': errorDoc });

function routes(app: FastifyInstance, deps: ApiDeps): void {
  app.post<{ Body: RunBody }>(
    `/v1/models/${MODEL_ID}/runs`,
    {
      schema: {
        hide: true,
        summary: 'Start a Topaz upscale run',
        operationId: 'createRun',
        body: runBody,
        documentedResponse: runResponses(201),
      },
    },
    async (request, reply) => {
      const { input, callback_url, metadata } = request.body;
      const { warnings, ...knobs } = topazToKnobs(
        {
          model: input.model,
          faceEnhancement: input.face_enhancement,
          faceEnhancementStrength: input.face_enhancement_strength,
          faceEnhancementCreativity: input.face_enhancement_creativity,
          subjectDetection: input.subject_detection,
          sharpen: input.sharpen,
          denoise: input.denoise,
          fixCompression: input.fix_compression,
          detail: input.detail,
          strength: input.strength,
          creativity: input.creativity,
          texture: input.texture,
          prompt: input.prompt,
          autoprompt: input.autoprompt,
          cropToFill: input.crop_to_fill,
        },
        NAMES,
      );
      const idem = header(request, 'idempotency-key');
      const { job } = await deps.service.submit(
        {
          image: deps.parseImage(input.image_url),
          model: input.model ?? 'Standard V2',
          scale: input.upscale_factor ?? 2,
          ...knobs,
          output: { format: input.output_format ?? 'jpeg', type: 'url' },
          ...(callback_url
            ? { webhook: { url: callback_url, events: ['completed', 'failed', 'canceled'] as const } }
            : {}),
          metadata: metadata ?? undefined,
          dialect: 'runflow',
          warnings,
        },
        request.caller,
        idem ? { key: `runflow:${idem}`, body: request.body } : undefined,
        abortOnClose(request).signal,
      );
      return reply.code(201).send(presentRun(job, deps));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/runs/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a run',
        operationId: 'getRun',
        documentedResponse: runResponses(200),
      },
    },
    async (request) => presentRun(await deps.service.get(request.params.id, request.caller), deps),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/runs/:id/cancel',
    {
      schema: {
        hide: true,
        summary: 'Cancel a run',
        operationId: 'cancelRun',
        documentedResponse: runResponses(200),
      },
    },
    async (request) => presentRun(await deps.service.cancel(request.params.id, request.caller), deps),
  );
}

/** Runflow's field names for messages about them. */
const NAMES = {
  faceEnhancement: 'face_enhancement',
  faceEnhancementStrength: 'face_enhancement_strength',
  faceEnhancementCreativity: 'face_enhancement_creativity',
  subjectDetection: 'subject_detection',
  fixCompression: 'fix_compression',
  cropToFill: 'crop_to_fill',
} as const;

/** The run's `output` object, or null until it succeeded. */
function outputOf(job: Job, url: (job: Job) => string | null): Record<string, unknown> | null {
  const r = job.result;
  if (job.status !== 'succeeded' || !r) return null;
  return {
    outputs: [
      {
        url: url(job),
        type: 'image',
        content_type: r.contentType,
        width: r.width,
        height: r.height,
        size_bytes: r.bytes,
      },
    ],
    nsfw_detected: null,
    seed: null,
    timing: {
      queue_ms: job.timings.queueMs ?? null,
      inference_ms: job.timings.inferMs ?? null,
      total_ms: job.timings.runMs ?? null,
    },
  };
}

/** failure_code / failure_stage / failure_message of a failed run. */
function failureOf(job: Job): Record<string, unknown> {
  if (job.status !== 'failed' || !job.error) return {};
  const code = job.error.code;
  const input = ['image_unreadable', 'image_too_large', 'output_too_large', 'invalid_argument'].includes(
    code,
  );
  return {
    failure_code: input
      ? 'INPUT_VALIDATION_FAILED'
      : code === 'upload_failed'
        ? 'OUTPUT_UPLOAD_FAILED'
        : 'INFERENCE_FAILED',
    failure_stage: input ? 'input' : code === 'upload_failed' ? 'output' : 'inference',
    failure_message: job.error.message,
  };
}

function presentRun(job: Job, deps: ApiDeps): Record<string, unknown> {
  return {
    id: job.id,
    object: 'run',
    model: MODEL_ID,
    status: STATUS[job.status],
    output: outputOf(job, (j) => resultUrl(j, deps)),
    ...failureOf(job),
    metadata: job.metadata,
    callback_url: job.request.webhook?.url ?? null,
    warnings: job.warnings,
    created_at: job.createdAt,
    started_at: job.startedAt,
    completed_at: job.finishedAt,
    duration_ms: job.finishedAt ? durationMs(job) : null,
    pixelift: { job_id: job.id, model: job.model, cost: job.cost },
  };
}

const EVENT: Partial<Record<JobEvent['type'], string>> = {
  completed: 'run.completed',
  failed: 'run.failed',
  canceled: 'run.cancelled',
};

function callback(job: Job, event: JobEvent, ctx: WebhookContext) {
  const name = EVENT[event.type];
  if (!name || !job.request.webhook) return undefined;
  return {
    url: job.request.webhook.url,
    scheme: 'runflow',
    messageId: `req_${job.id}_${event.id}`,
    payload: JSON.stringify({
      event: name,
      run_id: job.id,
      status: STATUS[job.status],
      output: outputOf(job, (j) => resultUrl(j, ctx)),
      ...failureOf(job),
      duration_ms: durationMs(job),
      created_at: job.createdAt,
      completed_at: job.finishedAt,
      metadata: job.metadata,
    }),
  };
}

/** Native field names in errors from below → Runflow's. */
const PARAMS = {
  image: 'input.image_url',
  scale: 'input.upscale_factor',
  model: 'input.model',
  denoise: 'input.denoise',
  sharpen: 'input.sharpen',
  fix_compression: 'input.fix_compression',
  'webhook.url': 'callback_url',
};

const CODES: Record<ReturnType<typeof kindOf>, string> = {
  auth: 'UNAUTHORIZED',
  credits: 'INSUFFICIENT_CREDIT',
  rate: 'RATE_LIMITED',
  unavailable: 'SERVICE_UNAVAILABLE',
  not_found: 'RUN_NOT_FOUND',
  validation: 'INPUT_VALIDATION_FAILED',
  conflict: 'RUN_NOT_CANCELLABLE',
  internal: 'INTERNAL_ERROR',
};

function presentError(err: PixeliftError) {
  const kind = kindOf(err);
  let code = CODES[kind];
  if (err.code === 'model_not_found' || err.code === 'model_not_installed') code = 'MODEL_UNAVAILABLE';
  // An unknown route is a 404 too; Runflow documents no code of its own for it.
  if (err.code === 'route_not_found') code = 'RUN_NOT_FOUND';
  const field = paramOf(err, PARAMS);
  return {
    status: err.status,
    body: {
      code,
      message: err.message,
      errors: kind === 'validation' ? [{ field: field ?? null, message: err.message, code: err.code }] : [],
    },
  };
}

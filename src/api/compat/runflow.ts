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
import type { FastifyInstance } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import type { PixeliftError } from '../../errors.js';
import type { Job } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { abortOnClose, header } from '../http.js';
import type { Dialect } from './dialect.js';
import { kindOf, paramOf } from './error-kinds.js';
import { mountDialect } from './mount.js';
import { failureOf, outputOf, STATUS } from './payloads/runflow.js';
import { durationMs, resultUrl } from './results.js';
import { TOPAZ_MODELS, topazToKnobs } from './topaz.js';

/** What these routes use of the API's dependencies. */
export type RunflowDeps = Uses<{ jobs: 'service'; files: 'presenter' }>;

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

export const runflow: Dialect = {
  name: 'runflow',

  async mount(api, deps) {
    await mountDialect(api, '/compat/runflow', presentError, (app) => routes(app, deps));
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

function routes(app: FastifyInstance, deps: RunflowDeps): void {
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
      const { job } = await deps.jobs.service.submit(
        {
          image: parseImageField(input.image_url),
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
    async (request) => presentRun(await deps.jobs.service.get(request.params.id, request.caller), deps),
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
    async (request) => presentRun(await deps.jobs.service.cancel(request.params.id, request.caller), deps),
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

function presentRun(job: Job, deps: RunflowDeps): Record<string, unknown> {
  return {
    id: job.id,
    object: 'run',
    model: MODEL_ID,
    status: STATUS[job.status],
    output: outputOf(job, (j) => resultUrl(j, deps.files)),
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

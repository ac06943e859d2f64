/**
 * Apiframe (Image Upscale, /v2) under /compat/apiframe: `POST /v2/images/upscale`
 * {model, topazUpscaleParams | clarityUpscaleParams, webhookUrl, webhookEvents} with an optional
 * `Idempotency-Key` → 202 {jobId (a UUID), status: "QUEUED"}; `GET /v2/jobs/:id` with the
 * lifecycle QUEUED → PROCESSING → COMPLETED | FAILED and `result.images[]` (one URL) once done.
 * Webhooks for the subscribed events (progress, completed, failed; default completed + failed):
 * `{event, jobId, status, progress, result, model, creditCost, completedAt}` or `{…, error}`,
 * signed with `X-Webhook-Signature` = hex HMAC-SHA256 of the raw body keyed with the SHA-256 hex
 * digest of the API key the job was submitted with, and `X-Webhook-Event`.
 * Errors: `{error: "Validation error" | "Unauthorized" | …, message, code, details[]}`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import { PixeliftError } from '../../errors.js';
import { hashSecret, keyIdOf } from '../../jobs/key-secret.js';
import type { Job } from '../../jobs/types.js';
import { presentedKeys } from '../auth.js';
import type { Uses } from '../deps.js';
import { abortOnClose, header } from '../http.js';
import type { Dialect } from './dialect.js';
import { kindOf, paramOf } from './error-kinds.js';
import { isUuid, jobIdOfUuid, newUuidJobId } from './ids.js';
import { mountDialect } from './mount.js';
import { modelOf, uuidOf, WEBHOOK_EVENTS, type WebhookEvent } from './payloads/apiframe.js';
import { resultUrl } from './results.js';
import { formatOf, TOPAZ_ENHANCE_MODELS, topazToKnobs } from './topaz.js';

/** What these routes use of the API's dependencies. */
export type ApiframeDeps = Uses<{ jobs: 'service'; files: 'presenter'; lifecycle: 'shuttingDown' }>;

const TOPAZ = 'topaz-image-upscale';
const CLARITY = 'clarity-upscale';
/** Each model's params object, as the request names it. */
const PARAMS_OBJECT = { [TOPAZ]: 'topazUpscaleParams', [CLARITY]: 'clarityUpscaleParams' } as const;
type ApiframeModel = keyof typeof PARAMS_OBJECT;

const unit = { type: 'number', minimum: 0, maximum: 1 };
/** Fields both params objects carry: the source image, the factor, the file format. */
const shared = {
  imageUrl: { type: 'string', minLength: 1 },
  // Topaz enlarges up to 16× in one pass; so does Pixelift (through the output-size cap).
  upscaleFactor: { type: 'number', minimum: 1, maximum: 16 },
  outputFormat: { type: 'string', enum: ['jpeg', 'jpg', 'png', 'webp'] },
};

const topazParams = {
  type: 'object',
  required: ['imageUrl'],
  additionalProperties: false,
  properties: {
    ...shared,
    enhanceModel: { type: 'string', enum: TOPAZ_ENHANCE_MODELS },
    model: { type: 'string', enum: TOPAZ_ENHANCE_MODELS },
    faceEnhancement: { type: 'boolean' },
    faceEnhancementStrength: unit,
    faceEnhancementCreativity: unit,
    subjectDetection: { type: 'string', enum: ['None', 'All', 'Foreground', 'Background'] },
    sharpen: unit,
    denoise: unit,
    fixCompression: unit,
    cropToFill: { type: 'boolean' },
  },
} as const;

/** Clarity's knobs (the "hi-res fix" ranges), all generative: accepted, validated, reported as ignored. */
const clarityParams = {
  type: 'object',
  required: ['imageUrl'],
  additionalProperties: false,
  properties: {
    ...shared,
    prompt: { type: 'string', maxLength: 4000 },
    negativePrompt: { type: 'string', maxLength: 4000 },
    creativity: unit,
    resemblance: { type: 'number', minimum: 0, maximum: 3 },
    dynamic: { type: 'number', minimum: 1, maximum: 50 },
    sharpen: { type: 'number', minimum: 0, maximum: 10 },
    numInferenceSteps: { type: 'integer', minimum: 1, maximum: 100 },
    seed: { type: 'integer', minimum: 0 },
    handfix: { type: 'string', enum: ['disabled', 'hands_only', 'image_and_hands'] },
  },
} as const;
const CLARITY_GENERATIVE = [
  'prompt',
  'negativePrompt',
  'creativity',
  'resemblance',
  'dynamic',
  'sharpen',
  'numInferenceSteps',
  'seed',
  'handfix',
] as const;

const DEFAULT_EVENTS: readonly WebhookEvent[] = ['completed', 'failed'];

const upscaleBody = {
  type: 'object',
  required: ['model'],
  additionalProperties: false,
  properties: {
    model: { type: 'string', enum: [TOPAZ, CLARITY] },
    topazUpscaleParams: topazParams,
    clarityUpscaleParams: clarityParams,
    webhookUrl: { type: 'string', minLength: 1 },
    webhookEvents: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENTS }, uniqueItems: true },
  },
} as const;

interface SharedParams {
  imageUrl: string;
  upscaleFactor?: number;
  outputFormat?: string;
}
interface TopazUpscaleParams extends SharedParams {
  enhanceModel?: string;
  model?: string;
  faceEnhancement?: boolean;
  faceEnhancementStrength?: number;
  faceEnhancementCreativity?: number;
  subjectDetection?: string;
  sharpen?: number;
  denoise?: number;
  fixCompression?: number;
  cropToFill?: boolean;
}
type ClarityUpscaleParams = SharedParams & Partial<Record<(typeof CLARITY_GENERATIVE)[number], unknown>>;
interface UpscaleBody {
  model: ApiframeModel;
  topazUpscaleParams?: TopazUpscaleParams;
  clarityUpscaleParams?: ClarityUpscaleParams;
  webhookUrl?: string;
  webhookEvents?: WebhookEvent[];
}

/** Apiframe's job statuses (a job canceled through the native API reads as FAILED: Apiframe has no cancel). */
const STATUS: Record<Job['status'], string> = {
  queued: 'QUEUED',
  running: 'PROCESSING',
  succeeded: 'COMPLETED',
  failed: 'FAILED',
  canceled: 'FAILED',
  expired: 'COMPLETED',
};

export const apiframe: Dialect = {
  name: 'apiframe',

  async mount(api, deps) {
    await mountDialect(api, '/compat/apiframe', presentError, (app) => routes(app, deps));
  },
};

/** What /compat/apiframe/openapi.json says the routes answer (documented only; the handlers shape the bodies). */
const statusDoc = { type: 'string', enum: ['QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED'] } as const;
const acceptedDoc = {
  type: 'object',
  required: ['jobId', 'status'],
  properties: {
    jobId: { type: 'string', format: 'uuid' },
    status: statusDoc,
    creditCost: { type: 'number' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;
const jobDoc = {
  type: 'object',
  required: ['jobId', 'status', 'progress', 'result', 'error'],
  properties: {
    jobId: { type: 'string', format: 'uuid' },
    status: statusDoc,
    model: { type: 'string' },
    progress: { type: 'integer', minimum: 0, maximum: 100 },
    result: {
      type: 'object',
      nullable: true,
      properties: { images: { type: 'array', items: { type: 'string' } } },
    },
    error: { type: 'string', nullable: true },
    creditCost: { type: 'number' },
    refunded: { type: 'boolean' },
    warnings: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time', nullable: true },
    completedAt: { type: 'string', format: 'date-time', nullable: true },
    pixelift: { type: 'object', additionalProperties: true },
  },
} as const;
const errorDoc = {
  description: 'Apiframe error',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string' },
    message: { type: 'string' },
    code: { type: 'string' },
    details: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string', nullable: true }, message: { type: 'string' } },
      },
    },
  },
} as const;
const errors = { '4XX': errorDoc, '5XX': errorDoc };

function routes(app: FastifyInstance, deps: ApiframeDeps): void {
  app.post<{ Body: UpscaleBody }>(
    '/v2/images/upscale',
    {
      schema: {
        hide: true,
        summary: 'Start an upscale job',
        operationId: 'upscaleImage',
        body: upscaleBody,
        documentedResponse: { 202: acceptedDoc, ...errors },
      },
    },
    async (request, reply) => {
      if (deps.lifecycle.shuttingDown()) throw new PixeliftError('shutting_down');
      const body = request.body;
      const { params, model, knobs, warnings } = translate(body);
      const events = body.webhookEvents ?? DEFAULT_EVENTS;
      const signingKey = body.webhookUrl ? signingKeyOf(request) : undefined;
      const idem = header(request, 'idempotency-key');
      const { jobId } = newUuidJobId();
      const { job } = await deps.jobs.service.submit(
        {
          id: jobId,
          image: parseImageField(params.imageUrl),
          model,
          scale: params.upscaleFactor ?? 2,
          ...knobs,
          output: {
            format: formatOf(params.outputFormat) ?? (body.model === TOPAZ ? 'jpeg' : 'png'),
            type: 'url',
          },
          ...(body.webhookUrl ? { webhook: { url: body.webhookUrl, events } } : {}),
          dialect: 'apiframe',
          dialectData: { model: body.model, ...(signingKey ? { signingKey } : {}) },
          warnings,
        },
        request.caller,
        idem ? { key: `apiframe:${idem}`, body } : undefined,
        abortOnClose(request).signal,
      );
      return reply.code(202).send({
        jobId: uuidOf(job),
        status: STATUS[job.status],
        creditCost: job.cost,
        warnings: job.warnings,
      });
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v2/jobs/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a job',
        operationId: 'getJob',
        documentedResponse: { 200: jobDoc, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      // Apiframe's job ids are UUIDs; anything else names no job here.
      if (!isUuid(id)) throw new PixeliftError('job_not_found', { id });
      return presentJob(await deps.jobs.service.get(jobIdOfUuid(id), request.caller), deps);
    },
  );
}

/** The body → the params object in use, the Pixelift model, knobs and warnings. */
function translate(body: UpscaleBody): {
  params: SharedParams;
  model: string;
  knobs: { denoise?: number; sharpen?: number; fix_compression?: number; face?: FaceOptions };
  warnings: string[];
} {
  const name = PARAMS_OBJECT[body.model];
  const other = body.model === TOPAZ ? PARAMS_OBJECT[CLARITY] : PARAMS_OBJECT[TOPAZ];
  if (body[other] !== undefined) {
    throw invalid(other, `${other} does not go with model "${body.model}"; send ${name}`);
  }
  if (body.webhookEvents && !body.webhookUrl) {
    throw invalid('webhookEvents', 'webhookEvents needs a webhookUrl to send them to');
  }
  if (body.model === TOPAZ) {
    const p = body.topazUpscaleParams;
    if (!p) throw invalid(name, `Missing required field "${name}" for model "${TOPAZ}"`);
    if (p.model !== undefined && p.enhanceModel !== undefined && p.model !== p.enhanceModel) {
      throw invalid(`${name}.model`, `${name}.model and ${name}.enhanceModel name different models`);
    }
    const enhanceModel = p.enhanceModel ?? p.model ?? 'Standard V2';
    const { warnings, ...knobs } = topazToKnobs(
      {
        model: enhanceModel,
        faceEnhancement: p.faceEnhancement,
        faceEnhancementStrength: p.faceEnhancementStrength,
        faceEnhancementCreativity: p.faceEnhancementCreativity,
        subjectDetection: p.subjectDetection,
        sharpen: p.sharpen,
        denoise: p.denoise,
        fixCompression: p.fixCompression,
        cropToFill: p.cropToFill,
      },
      Object.fromEntries(
        ['faceEnhancement', 'faceEnhancementStrength', 'faceEnhancementCreativity', 'subjectDetection'].map(
          (k) => [k, `${name}.${k}`],
        ),
      ),
    );
    return { params: p, model: enhanceModel, knobs, warnings };
  }
  const p = body.clarityUpscaleParams;
  if (!p) throw invalid(name, `Missing required field "${name}" for model "${CLARITY}"`);
  const given = CLARITY_GENERATIVE.filter((k) => p[k] !== undefined);
  const warnings =
    given.length > 0
      ? [
          `${given.map((k) => `${name}.${k}`).join(', ')} steer Clarity's generative upscaling, which Pixelift does not do; accepted and ignored.`,
        ]
      : [];
  return { params: p, model: CLARITY, knobs: {}, warnings };
}

function invalid(param: string, message: string): PixeliftError {
  return new PixeliftError('invalid_argument', { param, message });
}

/**
 * The webhook signing key: SHA-256 (hex) of the API key this request authenticated with (in
 * open mode, of the key the client sent anyway); none when the request carried no key. A key's
 * id derives from its secret, so the one that authenticated is found without another lookup.
 */
function signingKeyOf(request: FastifyRequest): string | undefined {
  const { keyId } = request.caller;
  const secret = presentedKeys(request).find((s) => keyId === null || keyIdOf(s) === keyId);
  return secret === undefined ? undefined : hashSecret(secret);
}

/** 0..100, whole percent. */
function percent(job: Job): number {
  if (job.status === 'succeeded' || job.status === 'expired') return 100;
  return Math.floor(job.progress * 100);
}

function presentJob(job: Job, deps: ApiframeDeps): Record<string, unknown> {
  const status = STATUS[job.status];
  const url = status === 'COMPLETED' ? resultUrl(job, deps.files) : null;
  return {
    jobId: uuidOf(job),
    status,
    model: modelOf(job),
    progress: percent(job),
    result: url ? { images: [url] } : null,
    error: status === 'FAILED' ? (job.error?.message ?? 'failed') : null,
    creditCost: job.cost,
    refunded: job.refunded,
    warnings: job.warnings,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    completedAt: job.finishedAt,
    pixelift: { job_id: job.id, model: job.model, input: job.input, output: job.output },
  };
}

/** Native field names in errors from below → Apiframe's, inside the params object in use. */
function paramsFor(request: FastifyRequest): Record<string, string> {
  const model = (request.body as { model?: unknown } | undefined)?.model;
  const p = model === CLARITY ? PARAMS_OBJECT[CLARITY] : PARAMS_OBJECT[TOPAZ];
  return {
    image: `${p}.imageUrl`,
    scale: `${p}.upscaleFactor`,
    denoise: `${p}.denoise`,
    sharpen: `${p}.sharpen`,
    fix_compression: `${p}.fixCompression`,
    'webhook.url': 'webhookUrl',
  };
}

/** Apiframe's error names (its table: 400, 401, 402, 503; the rest in the same spirit). */
const ERROR: Record<ReturnType<typeof kindOf>, string> = {
  auth: 'Unauthorized',
  credits: 'Insufficient credits',
  rate: 'Too many requests',
  unavailable: 'Service unavailable',
  not_found: 'Not found',
  validation: 'Validation error',
  conflict: 'Conflict',
  internal: 'Internal server error',
};

function presentError(err: PixeliftError, request: FastifyRequest) {
  const kind = kindOf(err);
  const field = paramOf(err, paramsFor(request));
  return {
    // Apiframe answers every invalid request 400; a failed fetch of the image keeps its 502/504.
    status: kind === 'validation' && err.status < 500 ? 400 : err.status,
    body: {
      error: ERROR[kind],
      message: err.message,
      code: err.code,
      details: kind === 'validation' ? [{ field: field ?? null, message: err.message }] : [],
    },
  };
}

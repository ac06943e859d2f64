/**
 * Scenario (Topaz Image Upscale, model `model_topaz-image-upscale`) under /compat/scenario, with
 * Basic auth (`base64(key:secret)`; the auth hook takes the Pixelift key as either half):
 * `POST /v1/assets` {image: base64 or data URI, name?} → {asset}; `GET /v1/assets/{assetId}`;
 * `POST /v1/generate/custom/model_topaz-image-upscale` {image: assetId, enhanceModel,
 * upscaleFactor, subjectDetection, faceEnhancement*} → {job}; `GET /v1/jobs/{jobId}` until
 * `status: "success"` with the result in `job.metadata.assetIds`; `POST /v1/jobs/{jobId}/action`
 * {action: "cancel"}. Assets are Pixelift uploads (`asset_upl_…`) and job results
 * (`asset_job_…`), so a generated asset can be the `image` of the next job.
 * Errors: `{error: <message>, reason: <Pixelift code>, param?}` with the registry's status.
 */
import type { FastifyInstance } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import { PixeliftError } from '../../errors.js';
import type { ImageInput } from '../../jobs/service.js';
import type { Upload } from '../../jobs/store.js';
import type { Job } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { abortOnClose } from '../http.js';
import type { Dialect } from './dialect.js';
import { kindOf, paramOf } from './error-kinds.js';
import { mountDialect } from './mount.js';
import { resultUrl } from './results.js';
import { factorOf, TOPAZ_ENHANCE_MODELS, topazToKnobs } from './topaz.js';

/** What these routes use of the API's dependencies. */
export type ScenarioDeps = Uses<{
  jobs: 'service' | 'uploads';
  files: 'presenter';
  lifecycle: 'shuttingDown';
}>;

const MODEL_ID = 'model_topaz-image-upscale';
/** Topaz's factors as Scenario's upscaleFactor spells them (Topaz Gigapixel's presets up to 6×). */
const FACTORS = ['1x', '2x', '4x', '6x'] as const;
const unit = { type: 'number', minimum: 0, maximum: 1 };

/** Every documented parameter with its documented default (ajv fills them in: useDefaults). */
const generateBody = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 1 },
    enhanceModel: { type: 'string', enum: TOPAZ_ENHANCE_MODELS, default: 'Standard V2' },
    upscaleFactor: { type: 'string', enum: FACTORS, default: '2x' },
    subjectDetection: { type: 'string', enum: ['None', 'All', 'Foreground', 'Background'], default: 'None' },
    faceEnhancement: { type: 'boolean', default: false },
    faceEnhancementCreativity: { ...unit, default: 0 },
    faceEnhancementStrength: { ...unit, default: 0.8 },
  },
} as const;

interface GenerateBody {
  image: string;
  enhanceModel: string;
  upscaleFactor: (typeof FACTORS)[number];
  subjectDetection: string;
  faceEnhancement: boolean;
  faceEnhancementCreativity: number;
  faceEnhancementStrength: number;
}

const assetBody = {
  type: 'object',
  required: ['image'],
  additionalProperties: false,
  properties: {
    image: { type: 'string', minLength: 1 },
    name: { type: 'string', maxLength: 256 },
  },
} as const;

/** Scenario's job statuses. */
const STATUS: Record<Job['status'], string> = {
  queued: 'queued',
  running: 'in-progress',
  succeeded: 'success',
  failed: 'failure',
  canceled: 'canceled',
  expired: 'success',
};

export const scenario: Dialect = {
  name: 'scenario',

  async mount(api, deps) {
    await mountDialect(api, '/compat/scenario', presentError, (app) => routes(app, deps));
  },
};

/** What /compat/scenario/openapi.json says the routes answer (documented only; the handlers shape the bodies). */
const ts = { type: 'string', format: 'date-time' } as const;
const assetDoc = {
  type: 'object',
  required: ['asset'],
  properties: {
    asset: {
      type: 'object',
      required: ['id', 'url', 'mimeType', 'kind', 'status'],
      properties: {
        id: { type: 'string' },
        url: { type: 'string', nullable: true },
        mimeType: { type: 'string' },
        kind: { type: 'string' },
        source: { type: 'string' },
        status: { type: 'string' },
        metadata: { type: 'object', additionalProperties: true },
        createdAt: { ...ts, nullable: true },
        updatedAt: { ...ts, nullable: true },
        expiresAt: { ...ts, nullable: true },
      },
    },
  },
} as const;
const jobObject = {
  type: 'object',
  required: ['jobId', 'status', 'progress', 'modelId', 'metadata'],
  properties: {
    jobId: { type: 'string' },
    status: { type: 'string', enum: ['queued', 'in-progress', 'success', 'failure', 'canceled'] },
    progress: { type: 'number' },
    modelId: { type: 'string' },
    metadata: {
      type: 'object',
      properties: {
        input: { type: 'object', nullable: true, additionalProperties: true },
        assetIds: { type: 'array', items: { type: 'string' } },
        error: { type: 'string' },
      },
    },
    warnings: { type: 'array', items: { type: 'string' } },
    creativeUnitsCost: { type: 'number' },
    statusHistory: {
      type: 'array',
      items: { type: 'object', properties: { status: { type: 'string' }, date: ts } },
    },
    createdAt: ts,
    updatedAt: ts,
  },
} as const;
const jobDoc = {
  type: 'object',
  required: ['job'],
  properties: { job: jobObject, creativeUnitsCost: { type: 'number' } },
} as const;
const errorDoc = {
  description: 'Scenario error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, reason: { type: 'string' }, param: { type: 'string' } },
} as const;
const errors = { '4XX': errorDoc, '5XX': errorDoc };

function routes(app: FastifyInstance, deps: ScenarioDeps): void {
  app.post<{ Body: { image: string; name?: string } }>(
    '/v1/assets',
    {
      schema: {
        hide: true,
        summary: 'Upload an asset (base64 or data URI)',
        operationId: 'createAsset',
        documentedResponse: { 200: assetDoc, ...errors },
        body: assetBody,
      },
    },
    async (request) => {
      const image = parseImageField(request.body.image);
      if (image.kind !== 'bytes') {
        throw new PixeliftError('invalid_argument', {
          param: 'image',
          message: 'Expected the image as base64 or a data URI (data:image/<type>;base64,…)',
        });
      }
      const upload = await deps.jobs.uploads.store(request.caller, image.data);
      return { asset: presentUpload(upload, deps, request.body.name) };
    },
  );

  app.get<{ Params: { assetId: string } }>(
    '/v1/assets/:assetId',
    {
      schema: {
        hide: true,
        summary: 'Get an asset',
        operationId: 'getAsset',
        documentedResponse: { 200: assetDoc, ...errors },
      },
    },
    async (request) => {
      const { assetId } = request.params;
      const image = imageOf(assetId);
      if (image?.kind === 'upload') {
        const upload = await deps.jobs.uploads.get(image.id);
        if (upload && (request.caller.keyId === null || upload.keyId === request.caller.keyId)) {
          return { asset: presentUpload(upload, deps) };
        }
      } else if (image?.kind === 'result') {
        const job = await deps.jobs.service.get(image.jobId, request.caller).catch(() => undefined);
        if (job?.result) return { asset: presentResult(job, deps) };
      }
      throw new PixeliftError('image_not_found', { id: assetId, reason: 'no such asset' });
    },
  );

  app.post<{ Body: GenerateBody }>(
    `/v1/generate/custom/${MODEL_ID}`,
    {
      schema: {
        hide: true,
        summary: 'Start a Topaz upscale job',
        operationId: 'generateTopazUpscale',
        documentedResponse: { 200: jobDoc, ...errors },
        body: generateBody,
      },
    },
    async (request) => {
      if (deps.lifecycle.shuttingDown()) throw new PixeliftError('shutting_down');
      const body = request.body;
      const image = imageOf(body.image);
      if (!image) {
        throw new PixeliftError('invalid_argument', {
          param: 'image',
          message: `Expected an asset id (asset_…, from POST /v1/assets or a job's metadata.assetIds) for image but received ${JSON.stringify(body.image.slice(0, 60))}`,
        });
      }
      const { warnings, ...knobs } = topazToKnobs({
        model: body.enhanceModel,
        faceEnhancement: body.faceEnhancement,
        faceEnhancementStrength: body.faceEnhancementStrength,
        faceEnhancementCreativity: body.faceEnhancementCreativity,
        subjectDetection: body.subjectDetection,
      });
      const { job } = await deps.jobs.service.submit(
        {
          image,
          model: body.enhanceModel,
          scale: factorOf(body.upscaleFactor),
          ...knobs,
          // Scenario hands back PNG assets; Topaz through Scenario has no format parameter.
          output: { format: 'png', type: 'url' },
          dialect: 'scenario',
          dialectData: { input: { ...body } },
          warnings,
        },
        request.caller,
        undefined,
        abortOnClose(request).signal,
      );
      return { job: presentJob(job), creativeUnitsCost: job.cost };
    },
  );

  app.get<{ Params: { jobId: string } }>(
    '/v1/jobs/:jobId',
    {
      schema: {
        hide: true,
        summary: 'Get a job',
        operationId: 'getJob',
        documentedResponse: { 200: jobDoc, ...errors },
      },
    },
    async (request) => ({
      job: presentJob(await deps.jobs.service.get(request.params.jobId, request.caller)),
    }),
  );

  app.post<{ Params: { jobId: string }; Body: { action: 'cancel' } }>(
    '/v1/jobs/:jobId/action',
    {
      schema: {
        hide: true,
        summary: 'Act on a job (cancel)',
        operationId: 'jobAction',
        documentedResponse: { 200: jobDoc, ...errors },
        body: {
          type: 'object',
          required: ['action'],
          additionalProperties: false,
          properties: { action: { type: 'string', enum: ['cancel'] } },
        },
      },
    },
    async (request) => ({
      job: presentJob(await deps.jobs.service.cancel(request.params.jobId, request.caller)),
    }),
  );
}

/** `asset_upl_…` → the upload, `asset_job_…` → that job's result; anything else: undefined. */
function imageOf(assetId: string): ImageInput | undefined {
  const m = /^asset_((upl|job)_[A-Za-z0-9_-]{1,128})$/.exec(assetId);
  if (!m?.[1]) return undefined;
  return m[2] === 'upl' ? { kind: 'upload', id: m[1] } : { kind: 'result', jobId: m[1] };
}

function presentUpload(upload: Upload, deps: ScenarioDeps, name?: string): Record<string, unknown> {
  return {
    id: `asset_${upload.id}`,
    url: deps.files.presenter.fileUrl(upload.id, new Date(upload.expiresAt)),
    mimeType: upload.contentType,
    kind: 'image',
    source: 'uploaded',
    status: 'success',
    metadata: {
      kind: 'image',
      type: 'uploaded',
      ...(name !== undefined ? { name } : {}),
      width: upload.width,
      height: upload.height,
      size: upload.bytes,
    },
    createdAt: upload.createdAt,
    updatedAt: upload.createdAt,
    expiresAt: upload.expiresAt,
  };
}

function presentResult(job: Job, deps: ScenarioDeps): Record<string, unknown> {
  const r = job.result!;
  return {
    id: `asset_${job.id}`,
    url: resultUrl(job, deps.files),
    mimeType: r.contentType,
    kind: 'image',
    source: 'upscale',
    status: 'success',
    metadata: {
      kind: 'image',
      type: 'upscale',
      modelId: MODEL_ID,
      parentJobId: job.id,
      width: r.width,
      height: r.height,
      size: r.bytes,
    },
    createdAt: job.finishedAt,
    updatedAt: job.finishedAt,
    expiresAt: job.expiresAt,
  };
}

function presentJob(job: Job): Record<string, unknown> {
  const status = STATUS[job.status];
  const history = [
    { status: 'queued', date: job.createdAt },
    ...(job.startedAt ? [{ status: 'in-progress', date: job.startedAt }] : []),
    ...(job.finishedAt ? [{ status, date: job.finishedAt }] : []),
  ];
  return {
    jobId: job.id,
    status,
    progress: status === 'success' ? 1 : job.progress,
    modelId: MODEL_ID,
    metadata: {
      input: job.request.dialectData?.input ?? null,
      assetIds: job.result ? [`asset_${job.id}`] : [],
      ...(job.error && status !== 'success' ? { error: job.error.message } : {}),
    },
    warnings: job.warnings,
    creativeUnitsCost: job.cost,
    statusHistory: history,
    createdAt: job.createdAt,
    updatedAt: job.finishedAt ?? job.startedAt ?? job.createdAt,
  };
}

function presentError(err: PixeliftError) {
  const kind = kindOf(err);
  const param = paramOf(err, { scale: 'upscaleFactor', model: 'enhanceModel' });
  return {
    status: err.status,
    body: {
      error: err.message,
      reason: err.code,
      ...(kind === 'validation' && param ? { param } : {}),
    },
  };
}

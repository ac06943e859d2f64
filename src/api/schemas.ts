/**
 * JSON Schemas of the native API: Fastify validates requests with them (Ajv) and
 * @fastify/swagger turns them into /openapi.json. One source for both.
 */
import { PRECISIONS } from '../config.js';
import { OUTPUT_FORMATS } from '../engine/encode.js';
import { FITS, OVERSIZE_POLICIES } from '../engine/plan.js';
import { JOB_EVENT_TYPES, JOB_STATUSES, OUTPUT_TYPES } from '../jobs/types.js';

const knob = { type: 'number', minimum: 0, maximum: 1 } as const;

export const upscaleBody = {
  $id: 'UpscaleRequest',
  type: 'object',
  additionalProperties: false,
  required: ['image'],
  properties: {
    image: {
      type: 'string',
      minLength: 1,
      description: 'An http(s) URL, a data URI, raw base64, or the id of an upload (upl_…).',
    },
    model: { type: 'string', minLength: 1, maxLength: 200, description: 'Model id or provider alias.' },
    precision: {
      type: 'string',
      enum: PRECISIONS,
      description:
        'What the network runs in: fp32, int8 (quantized), or auto (int8 where it meets the quality bar; GET /v1/models says which). Default: PIXELIFT_PRECISION (auto).',
    },
    scale: { type: 'number', minimum: 1, maximum: 16 },
    width: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    height: { type: 'integer', minimum: 1, maximum: 1_000_000 },
    fit: { type: 'string', enum: FITS },
    oversize: { type: 'string', enum: OVERSIZE_POLICIES },
    denoise: knob,
    fix_compression: knob,
    sharpen: knob,
    face: {
      type: 'object',
      additionalProperties: false,
      description:
        'Find faces and restore them: with `model` (or PIXELIFT_FACE_MODEL) a face model; without one, each face is re-upscaled with the faithful model. The found faces are on `result.faces`.',
      properties: {
        enabled: { type: 'boolean' },
        model: {
          type: 'string',
          minLength: 1,
          maxLength: 200,
          description: 'Id of an installed face model.',
        },
        strength: {
          ...knob,
          description: '0 leaves faces as upscaled, 1 pastes the restored face fully (default 1).',
        },
        creativity: { ...knob, description: 'CodeFormer fidelity w = 1 − creativity (default 0.5).' },
      },
    },
    output: {
      type: 'object',
      additionalProperties: false,
      properties: {
        format: { type: 'string', enum: OUTPUT_FORMATS },
        quality: { type: 'integer', minimum: 1, maximum: 100 },
        keep_metadata: { type: 'boolean' },
        type: { type: 'string', enum: OUTPUT_TYPES },
        upload_url: { type: 'string', minLength: 1, maxLength: 4096 },
        ttl: { type: 'integer', minimum: 1, description: 'Seconds the result is kept.' },
      },
    },
    webhook: {
      type: 'object',
      additionalProperties: false,
      required: ['url'],
      properties: {
        url: { type: 'string', minLength: 1, maxLength: 4096 },
        events: { type: 'array', items: { type: 'string', enum: JOB_EVENT_TYPES }, uniqueItems: true },
      },
    },
    metadata: { type: 'object', description: 'Returned as given on the job and in webhooks.' },
  },
} as const;

const nullable = <T extends object>(s: T) => ({ ...s, nullable: true }) as const;
const imageInfo = {
  type: 'object',
  properties: {
    width: { type: 'integer' },
    height: { type: 'integer' },
    format: { type: 'string' },
    bytes: { type: 'integer' },
  },
} as const;

export const errorEnvelope = {
  $id: 'Error',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        param: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    },
  },
} as const;

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  additionalProperties: true,
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['job'] },
    status: { type: 'string', enum: JOB_STATUSES },
    progress: { type: 'number' },
    eta_seconds: nullable({ type: 'number' }),
    model: {
      type: 'object',
      properties: {
        requested: nullable({ type: 'string' }),
        used: { type: 'string' },
        precision: { type: 'string', enum: ['fp32', 'int8'], description: 'What the network runs in.' },
      },
    },
    input: imageInfo,
    output: imageInfo,
    cost: { type: 'number' },
    warnings: { type: 'array', items: { type: 'string' } },
    error: nullable({ type: 'object', additionalProperties: true }),
    result: nullable({ type: 'object', additionalProperties: true }),
    attempts: { type: 'integer' },
    metadata: nullable({ type: 'object', additionalProperties: true }),
    timings: { type: 'object', additionalProperties: true },
    webhook: nullable({ type: 'object', additionalProperties: true }),
    created_at: { type: 'string' },
    started_at: nullable({ type: 'string' }),
    finished_at: nullable({ type: 'string' }),
    expires_at: nullable({ type: 'string' }),
    replayed: { type: 'boolean' },
  },
} as const;

export const jobIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 100 } },
} as const;

export const listJobsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    status: { type: 'string', enum: JOB_STATUSES },
    limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
    cursor: { type: 'string', maxLength: 200 },
  },
} as const;

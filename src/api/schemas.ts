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
    metadata: {
      type: 'object',
      additionalProperties: true,
      description: 'Returned as given on the job and in webhooks.',
    },
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
  description: 'An error: `error.code` is stable (docs/errors.md), `error.message` is for people.',
  type: 'object',
  required: ['error'],
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

const faceReport = {
  type: 'object',
  required: ['box', 'score', 'landmarks'],
  properties: {
    box: {
      type: 'object',
      required: ['x', 'y', 'width', 'height'],
      properties: {
        x: { type: 'number' },
        y: { type: 'number' },
        width: { type: 'number' },
        height: { type: 'number' },
      },
    },
    score: { type: 'number' },
    landmarks: {
      type: 'array',
      description: 'Left eye, right eye, nose tip, mouth left, mouth right, each `[x, y]` (input pixels).',
      items: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
    },
  },
} as const;

const jobResult = {
  type: 'object',
  nullable: true,
  required: ['url', 'content_type', 'bytes', 'width', 'height', 'format'],
  properties: {
    url: { type: 'string', description: 'Signed link to the file, valid until `expires_at`.' },
    content_type: { type: 'string' },
    bytes: { type: 'integer' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    format: { type: 'string', enum: OUTPUT_FORMATS },
    faces: { type: 'array', items: faceReport },
    expires_at: nullable({ type: 'string', format: 'date-time' }),
    base64: { type: 'string', description: 'The file, when `output.type` is `base64`.' },
    data_uri: { type: 'string', description: 'The file, when `output.type` is `data_uri`.' },
  },
} as const;

export const jobSchema = {
  $id: 'Job',
  type: 'object',
  additionalProperties: true,
  required: ['id', 'object', 'status', 'progress', 'created_at'],
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
    refunded: { type: 'boolean' },
    warnings: { type: 'array', items: { type: 'string' } },
    error: nullable({
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
    }),
    result: jobResult,
    attempts: { type: 'integer' },
    metadata: nullable({ type: 'object', additionalProperties: true }),
    timings: {
      type: 'object',
      properties: {
        queue_ms: { type: 'number' },
        decode_ms: { type: 'number' },
        infer_ms: { type: 'number' },
        encode_ms: { type: 'number' },
        run_ms: { type: 'number' },
      },
    },
    output_type: { type: 'string', enum: OUTPUT_TYPES },
    webhook: nullable({
      type: 'object',
      required: ['url'],
      properties: {
        url: { type: 'string' },
        events: { type: 'array', items: { type: 'string', enum: JOB_EVENT_TYPES } },
      },
    }),
    created_at: { type: 'string', format: 'date-time' },
    started_at: nullable({ type: 'string', format: 'date-time' }),
    finished_at: nullable({ type: 'string', format: 'date-time' }),
    expires_at: nullable({ type: 'string', format: 'date-time' }),
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

/** What every /v1 route may answer besides its own success: the one error envelope. */
export const errorResponses = { '4XX': errorEnvelope, '5XX': errorEnvelope } as const;

export const jobListSchema = {
  $id: 'JobList',
  type: 'object',
  required: ['object', 'data', 'next_cursor', 'has_more'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: jobSchema },
    next_cursor: nullable({ type: 'string' }),
    has_more: { type: 'boolean' },
  },
} as const;

export const estimateSchema = {
  $id: 'Estimate',
  type: 'object',
  required: ['object', 'model', 'input', 'output', 'cost', 'run_seconds', 'eta_seconds', 'warnings'],
  properties: {
    object: { type: 'string', enum: ['estimate'] },
    model: {
      type: 'object',
      properties: { requested: nullable({ type: 'string' }), used: { type: 'string' } },
    },
    input: imageInfo,
    output: imageInfo,
    cost: { type: 'number' },
    run_seconds: { type: 'number', description: 'Run time alone.' },
    eta_seconds: { type: 'number', description: 'Including the queue ahead.' },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const webhookDeliverySchema = {
  $id: 'WebhookDelivery',
  type: 'object',
  required: ['id', 'object', 'job_id', 'event', 'url', 'webhook_id', 'status', 'attempts', 'created_at'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['webhook_delivery'] },
    job_id: { type: 'string' },
    event: { type: 'string', enum: JOB_EVENT_TYPES },
    url: { type: 'string' },
    webhook_id: { type: 'string', description: 'Standard Webhooks `webhook-id`; kept by a redelivery.' },
    status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
    attempts: {
      type: 'array',
      items: {
        type: 'object',
        required: ['at', 'status_code', 'error', 'duration_ms'],
        properties: {
          at: { type: 'string', format: 'date-time' },
          status_code: nullable({ type: 'integer' }),
          error: nullable({ type: 'string' }),
          duration_ms: { type: 'number' },
        },
      },
    },
    next_attempt_at: nullable({ type: 'string', format: 'date-time' }),
    created_at: { type: 'string', format: 'date-time' },
    endpoint: {
      type: 'object',
      required: ['status', 'failing_since'],
      properties: {
        status: { type: 'string', enum: ['healthy', 'failing'] },
        failing_since: nullable({ type: 'string', format: 'date-time' }),
      },
    },
  },
} as const;

export const webhookDeliveryListSchema = {
  $id: 'WebhookDeliveryList',
  type: 'object',
  required: ['object', 'data'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: { type: 'array', items: webhookDeliverySchema },
  },
} as const;

export const uploadSchema = {
  $id: 'Upload',
  type: 'object',
  required: [
    'id',
    'object',
    'bytes',
    'content_type',
    'width',
    'height',
    'format',
    'created_at',
    'expires_at',
  ],
  properties: {
    id: { type: 'string', description: 'Use as `image` in jobs.' },
    object: { type: 'string', enum: ['upload'] },
    bytes: { type: 'integer' },
    content_type: { type: 'string' },
    width: { type: 'integer' },
    height: { type: 'integer' },
    format: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    expires_at: { type: 'string', format: 'date-time' },
  },
} as const;

/**
 * Request bodies a handler reads itself (multipart parts, raw image bytes). Fastify does not
 * validate these media types (the validator compiler in app.ts passes them through); the schema
 * is there to describe them in /openapi.json.
 */
export const RAW_BODY_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'multipart/form-data',
  'image/*',
  'application/octet-stream',
]);

const binary = { type: 'string', format: 'binary' } as const;

export const uploadRequestBody = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: { file: { ...binary, description: 'The image (the field may also be named `image`).' } },
      },
    },
    'image/*': { schema: binary },
    'application/octet-stream': { schema: binary },
  },
} as const;

const architecture = nullable({
  type: 'object',
  required: ['id', 'name', 'variant'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, variant: { type: 'string' } },
});

export const modelListSchema = {
  $id: 'ModelList',
  type: 'object',
  required: ['object', 'memory_budget_bytes', 'data'],
  properties: {
    object: { type: 'string', enum: ['list'] },
    memory_budget_bytes: nullable({
      type: 'integer',
      description: "Working memory each worker gives one image's inference (PIXELIFT_MEMORY_BUDGET).",
    }),
    data: {
      type: 'array',
      items: {
        $id: 'Model',
        type: 'object',
        required: [
          'id',
          'object',
          'name',
          'kind',
          'purpose',
          'scales',
          'default',
          'precision',
          'origin',
          'aliases',
        ],
        properties: {
          id: { type: 'string' },
          object: { type: 'string', enum: ['model'] },
          name: { type: 'string' },
          kind: { type: 'string' },
          purpose: { type: 'string' },
          scales: { type: 'array', items: { type: 'number' } },
          default: { type: 'boolean' },
          precision: {
            type: 'object',
            description:
              'Whether `precision: int8` works for this model, and what `precision: auto` runs it in.',
            required: ['int8', 'auto'],
            properties: { int8: { type: 'boolean' }, auto: { type: 'string', enum: ['fp32', 'int8'] } },
          },
          input_kpx_per_second: nullable({ type: 'number' }),
          credits_per_megapixel: { type: 'number' },
          license: { type: 'string' },
          origin: { type: 'string', enum: ['builtin', 'user'] },
          architecture,
          aliases: {
            type: 'array',
            items: {
              type: 'object',
              required: ['name', 'provider'],
              properties: {
                name: { type: 'string' },
                provider: { type: 'string' },
                warning: { type: 'string' },
              },
            },
          },
        },
      },
    },
  },
} as const;

export const userModelSchema = {
  $id: 'UserModel',
  type: 'object',
  required: ['id', 'object', 'name', 'kind', 'scales', 'origin', 'format', 'license'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['model'] },
    name: { type: 'string' },
    kind: { type: 'string' },
    scales: { type: 'array', items: { type: 'number' } },
    origin: { type: 'string', enum: ['builtin', 'user'] },
    format: { type: 'string' },
    architecture,
    params: nullable({ type: 'number' }),
    flops_per_pixel: nullable({ type: 'number' }),
    license: { type: 'string' },
  },
} as const;

export const modelUploadRequestBody = {
  content: {
    'multipart/form-data': {
      schema: {
        type: 'object',
        required: ['file'],
        properties: {
          file: { ...binary, description: 'A .pth, .pt, .ckpt or .safetensors file.' },
          id: { type: 'string', description: 'The id to install it under (default: from the file name).' },
        },
      },
    },
  },
} as const;

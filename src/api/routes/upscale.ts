/**
 * POST /v1/upscale and POST /v1/estimate: JSON or multipart in, a Job (or an estimate) out.
 * `Prefer: wait=N` holds the request up to N s (capped by config) and answers 200 with the
 * finished job, or 202 if it is still running; `Idempotency-Key` makes a retry safe.
 */

import { Ajv } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Precision } from '../../config.js';
import { parseImageField } from '../../delivery/image-input.js';
import type { OutputFormat } from '../../engine/encode.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import type { Fit, OversizePolicy } from '../../engine/plan.js';
import { PixeliftError } from '../../errors.js';
import type { SubmitRequest } from '../../jobs/service.js';
import { isTerminal, type Job, type JobEventType, type OutputType } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { validationError } from '../errors.js';
import { abortOnClose, header, preferWait } from '../http.js';
import { readMultipart } from '../multipart.js';
import { presentJob } from '../present.js';
import { errorResponses, estimateSchema, jobSchema, upscaleBody } from '../schemas.js';

/** What these routes use of the API's dependencies. */
export type UpscaleRouteDeps = Uses<{
  jobs: 'service';
  files: 'blobs' | 'presenter';
  lifecycle: 'shutdownSignal' | 'shuttingDown';
  settings: 'limits' | 'maxWaitSeconds';
}>;

type UpscaleBody = {
  image: string | Buffer;
  model?: string;
  precision?: Precision;
  scale?: number;
  width?: number;
  height?: number;
  fit?: Fit;
  oversize?: OversizePolicy;
  denoise?: number;
  fix_compression?: number;
  sharpen?: number;
  face?: FaceOptions;
  output?: {
    format?: OutputFormat;
    quality?: number;
    keep_metadata?: boolean;
    type?: OutputType;
    upload_url?: string;
    ttl?: number;
  };
  webhook?: { url: string; events?: JobEventType[] };
  metadata?: Record<string, unknown>;
};

const NUMERIC_FIELDS = new Set(['scale', 'width', 'height', 'denoise', 'fix_compression', 'sharpen']);
const JSON_FIELDS = new Set(['output', 'webhook', 'metadata', 'face']);

// Multipart fields arrive as strings; they are turned into the JSON body's types and checked
// against the same schema, so both forms of the request obey one set of rules.
const ajv = new Ajv({ allErrors: false, strict: false });
const validateMultipart = ajv.compile({ ...upscaleBody, $id: undefined });

export function upscaleRoutes(app: FastifyInstance, deps: UpscaleRouteDeps): void {
  const schema = (summary: string, operationId: string, ok: object) => ({
    summary,
    operationId,
    body: {
      content: {
        'application/json': { schema: upscaleBody },
        // Read by readBody: the text fields as the JSON body's (objects as JSON text), the image as a file.
        'multipart/form-data': {
          schema: {
            type: 'object',
            required: ['image'],
            properties: {
              ...upscaleBody.properties,
              image: {
                type: 'string',
                format: 'binary',
                description: 'The image file, or any form `image` takes in JSON.',
              },
            },
          },
        },
      },
    },
    headers: {
      type: 'object',
      properties: {
        'idempotency-key': { type: 'string', maxLength: 255 },
        prefer: { type: 'string', description: '`wait=N`: hold the request up to N seconds' },
      },
    },
    response: { ...ok, ...errorResponses },
  });

  app.post(
    '/v1/upscale',
    {
      schema: {
        ...schema('Create an upscale job', 'createUpscaleJob', {
          200: { ...jobSchema, description: 'The job has ended (`Prefer: wait`)' },
          202: { ...jobSchema, description: 'The job is queued or running' },
        }),
        tags: ['jobs'],
      },
    },
    async (request, reply) => {
      if (deps.lifecycle.shuttingDown()) throw new PixeliftError('shutting_down');
      const body = await readBody(request, deps.settings.limits.maxInputBytes);
      const abort = abortOnClose(request);
      const idemKey = header(request, 'idempotency-key');
      const { job, replayed } = await deps.jobs.service.submit(
        toSubmit(body),
        request.caller,
        idemKey ? { key: idemKey, body: body } : undefined,
        abort.signal,
      );
      let current: Job = job;
      const wait = preferWait(request, deps.settings.maxWaitSeconds);
      if (wait !== undefined && !isTerminal(job.status)) {
        current = await deps.jobs.service.wait(
          job.id,
          request.caller,
          wait * 1000,
          deps.lifecycle.shutdownSignal,
        );
        reply.header('preference-applied', `wait=${wait}`);
      }
      reply.header('location', `/v1/jobs/${job.id}`);
      if (replayed) reply.header('idempotent-replayed', 'true');
      const inline =
        current.result && current.request.output.type !== 'url'
          ? await deps.files.blobs.get(current.result.blobKey)
          : undefined;
      return reply
        .code(isTerminal(current.status) ? 200 : 202)
        .send(presentJob(current, deps.files.presenter, { inline, replayed }));
    },
  );

  app.post(
    '/v1/estimate',
    {
      schema: {
        ...schema(
          'Validate a request and return its output size, cost and ETA without running it',
          'estimateUpscale',
          { 200: estimateSchema },
        ),
        tags: ['jobs'],
      },
    },
    async (request) => {
      const body = await readBody(request, deps.settings.limits.maxInputBytes);
      const e = await deps.jobs.service.estimate(
        toSubmit(body),
        request.caller,
        abortOnClose(request).signal,
      );
      return {
        object: 'estimate',
        model: e.model,
        input: e.input,
        output: e.output,
        cost: e.cost,
        run_seconds: e.runSeconds,
        eta_seconds: e.etaSeconds,
        warnings: e.warnings,
      };
    },
  );
}

async function readBody(request: FastifyRequest, maxFileBytes: number): Promise<UpscaleBody> {
  if (!request.isMultipart()) {
    const body = request.body;
    if (body === undefined || body === null || typeof body !== 'object' || Buffer.isBuffer(body)) {
      throw new PixeliftError('unsupported_media_type', {
        contentType: request.headers['content-type'] ?? '(none)',
        expected: 'application/json or multipart/form-data',
      });
    }
    return request.body as UpscaleBody;
  }
  const multipart = await readMultipart(request, maxFileBytes);
  const fields: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(multipart.fields)) fields[name] = coerceField(name, raw);
  const uploaded = multipart.file;
  if (uploaded && uploaded.field !== 'image' && uploaded.field !== 'file') {
    throw new PixeliftError('invalid_argument', {
      param: uploaded.field,
      message: `Unknown file field "${uploaded.field}"; send the image as "image"`,
    });
  }
  const file = uploaded?.data;
  if (file) fields.image = 'multipart';
  if (!validateMultipart(fields)) throw validationError(validateMultipart.errors ?? []);
  return { ...(fields as UpscaleBody), image: file ?? (fields.image as string) };
}

function coerceField(name: string, raw: string): unknown {
  if (NUMERIC_FIELDS.has(name)) {
    const n = Number(raw);
    return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
  }
  if (JSON_FIELDS.has(name)) {
    try {
      return JSON.parse(raw);
    } catch {
      throw new PixeliftError('invalid_json', { reason: `multipart field "${name}" must hold JSON` });
    }
  }
  return raw;
}

function toSubmit(body: UpscaleBody): SubmitRequest {
  const o = body.output;
  return {
    image: Buffer.isBuffer(body.image) ? { kind: 'bytes', data: body.image } : parseImageField(body.image),
    model: body.model,
    precision: body.precision,
    scale: body.scale,
    width: body.width,
    height: body.height,
    fit: body.fit,
    oversize: body.oversize,
    denoise: body.denoise,
    fix_compression: body.fix_compression,
    sharpen: body.sharpen,
    ...(body.face ? { face: body.face } : {}),
    output: o && {
      format: o.format,
      quality: o.quality,
      keepMetadata: o.keep_metadata,
      type: o.type,
      uploadUrl: o.upload_url,
      ttlSeconds: o.ttl,
    },
    webhook: body.webhook,
    metadata: body.metadata,
    dialect: 'native',
  };
}

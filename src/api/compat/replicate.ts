/**
 * Replicate (replicate.com/docs/reference/http) under /compat/replicate, so that the official
 * `replicate` client works with only `baseUrl` changed to `…/compat/replicate/v1`:
 * `POST /v1/models/{owner}/{name}/predictions`, `POST /v1/predictions` {version},
 * `GET /v1/predictions[/{id}]`, `POST /v1/predictions/{id}/cancel`, `GET /v1/models/{owner}/{name}`,
 * `POST /v1/files` + `GET /v1/files/{id}` (the client uploads Buffers and Blobs there before a
 * prediction and passes the file's `urls.get` as the input), `GET /v1/webhooks/default/secret`.
 *
 * A prediction is a job; its id is the job id. `Prefer: wait[=N]` holds the create request (60 s
 * when no N, as Replicate, capped at PIXELIFT_MAX_WAIT). Webhooks carry the prediction object and
 * are signed the Standard Webhooks way with the caller's "default secret", so the client's own
 * `validateWebhook` accepts them. That secret is derived per API key from the server's webhook
 * secret (HMAC), so one key's secret says nothing about another's or about the native secret.
 *
 * Errors are Replicate's problem-details bodies: `{title, detail, status}` (+ `invalid_fields`
 * on a 422).
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import { isPixeliftError, PixeliftError } from '../../errors.js';
import type { Caller, ImageInput } from '../../jobs/service.js';
import type { Upload } from '../../jobs/store.js';
import type { Job, JobEventType } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { abortOnClose, acceptEmptyJson, header } from '../http.js';
import type { Dialect } from './dialect.js';
import { kindOf } from './error-kinds.js';
import { mountDialect } from './mount.js';
import {
  defaultSecretOf,
  FILTERS,
  isTerminal,
  PREFIX,
  present,
  versionOf,
  type WebhookFilter,
} from './payloads/replicate.js';
import { REPLICATE_MODELS, type ReplicateModel, type TranslatedInput } from './replicate-models.js';

/** What these routes use of the API's dependencies. */
export type ReplicateDeps = Uses<{
  jobs: 'service' | 'uploads';
  files: 'presenter';
  models: 'store';
  webhooks: 'secret';
  lifecycle: 'shutdownSignal';
  settings: 'bodyLimit' | 'limits' | 'maxWaitSeconds';
}>;

/** Replicate holds a bare `Prefer: wait` for up to 60 s. */
const DEFAULT_WAIT_S = 60;
const PAGE = 100;

const byVersion = new Map(REPLICATE_MODELS.map((m) => [versionOf(m.name), m]));
const byName = new Map(REPLICATE_MODELS.map((m) => [m.name, m]));

/** `owner/name` → its model; `pixelift/<model id>` serves any installed Pixelift model as is. */
function modelOf(name: string): ReplicateModel | undefined {
  const known = byName.get(name.toLowerCase());
  if (known) return known;
  const m = /^pixelift\/([a-z0-9][a-z0-9._-]*)$/i.exec(name);
  return m ? pixeliftModel(m[1]!) : undefined;
}

function pixeliftModel(id: string): ReplicateModel {
  return {
    name: `pixelift/${id}`,
    description: `Pixelift's ${id}, served directly`,
    input: {
      type: 'object',
      required: ['image'],
      additionalProperties: false,
      properties: {
        image: { type: 'string', format: 'uri', description: 'Input image' },
        scale: {
          type: 'number',
          minimum: 1,
          maximum: 8,
          default: 2,
          description: 'Factor to scale image by',
        },
        output_format: { type: 'string', enum: ['png', 'jpg', 'webp'], default: 'png' },
      },
    },
    translate: (input) => ({
      model: id,
      scale: (input.scale as number | undefined) ?? 2,
      format: input.output_format === 'jpg' ? 'jpeg' : ((input.output_format as 'png' | 'webp') ?? 'png'),
      warnings: [],
    }),
  };
}

const createBody = {
  type: 'object',
  required: ['input'],
  properties: {
    input: { type: 'object' },
    version: { type: 'string', minLength: 1 },
    webhook: { type: 'string', minLength: 1 },
    webhook_events_filter: { type: 'array', items: { enum: FILTERS } },
    stream: { type: 'boolean' },
  },
} as const;

interface CreateBody {
  input: Record<string, unknown>;
  version?: string;
  webhook?: string;
  webhook_events_filter?: WebhookFilter[];
  stream?: boolean;
}

export const replicate: Dialect = {
  name: 'replicate',

  async mount(api, deps) {
    await mountDialect(api, PREFIX, presentError, (app) => routes(app, deps));
  },
};

/** What /compat/replicate/openapi.json says the routes answer (documented only; the handlers shape the bodies). */
const ts = { type: 'string', format: 'date-time' } as const;
const predictionDoc = {
  type: 'object',
  required: ['id', 'model', 'version', 'input', 'status', 'urls', 'created_at'],
  properties: {
    id: { type: 'string' },
    model: { type: 'string' },
    version: { type: 'string' },
    input: { type: 'object', additionalProperties: true },
    logs: { type: 'string' },
    output: { type: 'string', nullable: true, description: 'The result URL once succeeded' },
    data_removed: { type: 'boolean' },
    error: { type: 'string', nullable: true },
    status: { type: 'string', enum: ['starting', 'processing', 'succeeded', 'failed', 'canceled'] },
    created_at: ts,
    started_at: { ...ts, nullable: true },
    completed_at: { ...ts, nullable: true },
    urls: {
      type: 'object',
      properties: { get: { type: 'string' }, cancel: { type: 'string' }, web: { type: 'string' } },
    },
    metrics: {
      type: 'object',
      properties: { predict_time: { type: 'number' }, total_time: { type: 'number' } },
    },
    pixelift: { type: 'object', additionalProperties: true },
  },
} as const;
const versionDoc = {
  type: 'object',
  required: ['id', 'openapi_schema'],
  properties: {
    id: { type: 'string' },
    created_at: ts,
    cog_version: { type: 'string', nullable: true },
    openapi_schema: { type: 'object', additionalProperties: true },
  },
} as const;
const modelDoc = {
  type: 'object',
  required: ['owner', 'name', 'latest_version'],
  properties: {
    url: { type: 'string' },
    owner: { type: 'string' },
    name: { type: 'string' },
    description: { type: 'string', nullable: true },
    visibility: { type: 'string' },
    run_count: { type: 'integer' },
    latest_version: versionDoc,
  },
  additionalProperties: true,
} as const;
const fileDoc = {
  type: 'object',
  required: ['id', 'content_type', 'size', 'urls'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    content_type: { type: 'string' },
    size: { type: 'integer' },
    checksums: { type: 'object', properties: { sha256: { type: 'string' } } },
    metadata: { type: 'object', additionalProperties: true },
    created_at: ts,
    expires_at: ts,
    urls: { type: 'object', properties: { get: { type: 'string' } } },
  },
} as const;
const errorDoc = {
  description: 'Problem details',
  type: 'object',
  required: ['title', 'detail', 'status'],
  properties: {
    title: { type: 'string' },
    detail: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    invalid_fields: {
      type: 'array',
      items: {
        type: 'object',
        properties: { type: { type: 'string' }, field: { type: 'string' }, description: { type: 'string' } },
      },
    },
  },
} as const;
const errors = { '4XX': errorDoc, '5XX': errorDoc };
const predictionListDoc = {
  type: 'object',
  required: ['previous', 'next', 'results'],
  properties: {
    previous: { type: 'string', nullable: true },
    next: { type: 'string', nullable: true },
    results: { type: 'array', items: predictionDoc },
  },
} as const;

function routes(app: FastifyInstance, deps: ReplicateDeps): void {
  // The client sends `Content-Type: application/json` with no body on cancel; Replicate accepts
  // that, so an empty JSON body is no body here (this scope only), and anything else parses as usual.
  acceptEmptyJson(app, deps.settings.bodyLimit);
  app.post<{ Params: { owner: string; name: string }; Body: CreateBody }>(
    '/v1/models/:owner/:name/predictions',
    {
      schema: {
        hide: true,
        summary: "Create a prediction with a model's latest version",
        operationId: 'createModelPrediction',
        documentedResponse: { 201: predictionDoc, ...errors },
        body: createBody,
      },
    },
    async (request, reply) => {
      const name = `${request.params.owner}/${request.params.name}`;
      const model = modelOf(name);
      if (!model) throw notFound(`Model ${name} does not exist`);
      return reply.code(201).send(await create(request, model, deps));
    },
  );

  app.post<{ Body: CreateBody }>(
    '/v1/predictions',
    {
      schema: {
        hide: true,
        summary: 'Create a prediction with a version',
        operationId: 'createPrediction',
        documentedResponse: { 201: predictionDoc, ...errors },
        body: createBody,
      },
    },
    async (request, reply) => {
      const version = request.body.version;
      if (!version) throw invalid('version', 'Either version or a model path is required', 'required');
      // `owner/name:version` and bare version ids both occur in the wild; the id decides.
      const id = version.split(':').pop()!.toLowerCase();
      const model =
        byVersion.get(id) ??
        deps.models.store
          .list()
          .map((m) => pixeliftModel(m.id))
          .find((m) => versionOf(m.name) === id);
      if (!model) {
        throw new PixeliftError('invalid_argument', {
          message:
            'The specified version does not exist (or perhaps you don\u2019t have permission to use it?)',
          replicate: { status: 422, title: 'Invalid version or not permitted' },
        });
      }
      return reply.code(201).send(await create(request, model, deps));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/predictions/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a prediction',
        operationId: 'getPrediction',
        documentedResponse: { 200: predictionDoc, ...errors },
      },
    },
    async (request) =>
      present(await getPrediction(request.params.id, request.caller, deps), deps.files, baseOf(request)),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/predictions/:id/cancel',
    {
      schema: {
        hide: true,
        summary: 'Cancel a prediction',
        operationId: 'cancelPrediction',
        documentedResponse: { 200: predictionDoc, ...errors },
      },
    },
    async (request) => {
      await getPrediction(request.params.id, request.caller, deps);
      let job: Job;
      try {
        job = await deps.jobs.service.cancel(request.params.id, request.caller);
      } catch (err) {
        // Replicate answers a cancel of a finished prediction with the prediction, unchanged.
        if (!isPixeliftError(err) || err.status !== 409) throw err;
        job = await deps.jobs.service.get(request.params.id, request.caller);
      }
      return present(job, deps.files, baseOf(request));
    },
  );

  app.get<{ Querystring: { cursor?: string } }>(
    '/v1/predictions',
    {
      schema: {
        hide: true,
        summary: 'List predictions',
        operationId: 'listPredictions',
        documentedResponse: { 200: predictionListDoc, ...errors },
        querystring: { type: 'object', properties: { cursor: { type: 'string' } } },
      },
    },
    async (request) => {
      const cursor = request.query.cursor;
      const page = await deps.jobs.service.list(request.caller, {
        limit: PAGE,
        ...(cursor ? { cursor } : {}),
      });
      const base = baseOf(request);
      return {
        previous: null,
        next: page.nextCursor ? `${base}/v1/predictions?cursor=${encodeURIComponent(page.nextCursor)}` : null,
        results: page.jobs
          .filter((j) => j.request.dialect === 'replicate')
          .map((j) => present(j, deps.files, base)),
      };
    },
  );

  app.get<{ Params: { owner: string; name: string } }>(
    '/v1/models/:owner/:name',
    {
      schema: {
        hide: true,
        summary: 'Get a model',
        operationId: 'getModel',
        documentedResponse: { 200: modelDoc, ...errors },
      },
    },
    async (request) => {
      const name = `${request.params.owner}/${request.params.name}`;
      const model = modelOf(name);
      if (!model) throw notFound(`Model ${name} does not exist`);
      return presentModel(model);
    },
  );

  app.get<{ Params: { owner: string; name: string; version: string } }>(
    '/v1/models/:owner/:name/versions/:version',
    {
      schema: {
        hide: true,
        summary: 'Get a model version',
        operationId: 'getModelVersion',
        documentedResponse: { 200: versionDoc, ...errors },
      },
    },
    async (request) => {
      const model = modelOf(`${request.params.owner}/${request.params.name}`);
      if (!model || versionOf(model.name) !== request.params.version) throw notFound('Version not found');
      return presentVersion(model);
    },
  );

  app.post(
    '/v1/files',
    {
      bodyLimit: deps.settings.limits.maxInputBytes + 64 * 1024,
      schema: {
        hide: true,
        summary: 'Upload a file to use as an input',
        operationId: 'createFile',
        documentedResponse: { 201: fileDoc, ...errors },
        body: {
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['content'],
                properties: {
                  content: { type: 'string', format: 'binary' },
                  metadata: { type: 'string', format: 'binary', description: 'A JSON file' },
                },
              },
            },
          },
        },
      },
    },
    async (request, reply) => {
      let data: Buffer | undefined;
      let filename = 'file';
      let metadata: unknown = {};
      if (request.isMultipart()) {
        // The client sends two file parts: `content` and a JSON `metadata` blob.
        for await (const part of request.parts({ limits: { files: 2 } })) {
          if (part.type !== 'file') continue;
          const bytes = await part.toBuffer();
          if (part.fieldname === 'content') {
            data = bytes;
            filename = part.filename || filename;
          } else if (part.fieldname === 'metadata') {
            try {
              metadata = JSON.parse(bytes.toString('utf8'));
            } catch {
              throw invalid('metadata', 'metadata must be JSON', 'type');
            }
          }
        }
      }
      if (!data || data.length === 0) {
        throw invalid('content', 'Send the file as multipart field "content"', 'required');
      }
      const upload = await deps.jobs.uploads.store(request.caller, data);
      return reply.code(201).send(presentFile(upload, baseOf(request), filename, metadata, data));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/files/:id',
    {
      schema: {
        hide: true,
        summary: 'Get a file',
        operationId: 'getFile',
        documentedResponse: { 200: fileDoc, ...errors },
      },
    },
    async (request) => {
      const upload = await deps.jobs.uploads.get(request.params.id);
      if (!upload || (request.caller.keyId !== null && upload.keyId !== request.caller.keyId)) {
        throw notFound('File not found');
      }
      return presentFile(upload, baseOf(request));
    },
  );

  app.get(
    '/v1/webhooks/default/secret',
    {
      schema: {
        hide: true,
        summary: 'Get the signing secret of your webhooks',
        operationId: 'getDefaultWebhookSecret',
        documentedResponse: {
          200: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } },
          ...errors,
        },
      },
    },
    async (request) => {
      if (!deps.webhooks.secret) throw new PixeliftError('internal', { message: 'no webhook secret' });
      return { key: defaultSecretOf(deps.webhooks.secret, request.caller.keyId) };
    },
  );
}

/** Where the client reached this dialect (`http://host:port/compat/replicate`), for `urls`. */
function baseOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? 'localhost'}${PREFIX}`;
}

async function getPrediction(id: string, caller: Caller, deps: ReplicateDeps): Promise<Job> {
  try {
    const job = await deps.jobs.service.get(id, caller);
    if (job.request.dialect !== 'replicate') throw notFound('Prediction not found');
    return job;
  } catch (err) {
    if (isPixeliftError(err) && err.status === 404) throw notFound('Prediction not found');
    throw err;
  }
}

async function create(
  request: FastifyRequest<{ Body: CreateBody }>,
  model: ReplicateModel,
  deps: ReplicateDeps,
): Promise<Record<string, unknown>> {
  const { input, webhook, webhook_events_filter } = request.body;
  const errors = validateInput(model, input);
  if (errors.length > 0) {
    throw new PixeliftError('invalid_argument', {
      message: errors.map((e) => `- input.${e.field}: ${e.description}`).join('\n'),
      replicate: {
        status: 422,
        title: 'Input validation failed',
        invalid_fields: errors.map((e) => ({ ...e, field: `input.${e.field}` })),
      },
    });
  }
  const t: TranslatedInput = model.translate(withDefaults(model, input));
  const imageField = model.imageField ?? 'image';
  const image = await imageOf(String(input[imageField]), imageField);
  const filter = webhook_events_filter ?? FILTERS;
  const { job } = await deps.jobs.service.submit(
    {
      image,
      model: t.model,
      scale: t.scale,
      ...(t.knobs ?? {}),
      output: { format: t.format, type: 'url' },
      ...(webhook ? { webhook: { url: webhook, events: nativeEvents(filter) } } : {}),
      dialect: 'replicate',
      dialectData: {
        model: model.name,
        input: echoed(input),
        filter,
        ...(request.body.version ? { version: true } : {}),
      },
      warnings: t.warnings,
    },
    request.caller,
    undefined,
    abortOnClose(request).signal,
  );
  let current = job;
  const wait = preferWait(header(request, 'prefer'), deps.settings.maxWaitSeconds);
  if (wait !== undefined && !isTerminal(job.status)) {
    current = await deps.jobs.service.wait(
      job.id,
      request.caller,
      wait * 1000,
      deps.lifecycle.shutdownSignal,
    );
  }
  return present(current, deps.files, baseOf(request));
}

/**
 * The input as the prediction echoes it: a data URI is kept as its head and size, not its bytes,
 * so that a job record (and every poll of it) does not carry the whole image again.
 */
function echoed(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    out[k] =
      typeof v === 'string' && v.startsWith('data:') && v.length > 256
        ? `${v.slice(0, v.indexOf(',') + 1)}… (${v.length} characters)`
        : v;
  }
  return out;
}

/** `Prefer: wait` → 60 s, `wait=N` → N; capped at the server's longest hold. */
function preferWait(prefer: string | undefined, max: number): number | undefined {
  if (!prefer) return undefined;
  const m = /(?:^|[,;\s])wait(?:=(\d+))?(?:$|[,;\s])/i.exec(prefer);
  if (!m) return undefined;
  return Math.min(m[1] ? Number(m[1]) : DEFAULT_WAIT_S, max);
}

/** An input image: a file this dialect stored (`…/v1/files/{id}`), or a URL / data URI. */
async function imageOf(value: string, field: string): Promise<ImageInput> {
  const own = /\/compat\/replicate\/v1\/files\/(upl_[A-Za-z0-9_]+)(?:\/download)?$/.exec(value);
  if (own) return { kind: 'upload', id: own[1]! };
  try {
    return parseImageField(value);
  } catch (err) {
    if (isPixeliftError(err)) throw new PixeliftError(err.code, { ...err.details, param: `input.${field}` });
    throw err;
  }
}

/** Replicate's webhook events → the job events that trigger them. */
function nativeEvents(filter: readonly WebhookFilter[]): JobEventType[] {
  const events = new Set<JobEventType>();
  if (filter.includes('start')) events.add('started');
  if (filter.includes('logs')) events.add('progress');
  if (filter.includes('output') || filter.includes('completed')) events.add('completed');
  if (filter.includes('completed')) {
    events.add('failed');
    events.add('canceled');
  }
  return [...events];
}

// --- input validation ------------------------------------------------------------------------

interface InvalidField {
  type: string;
  field: string;
  description: string;
}

type Schema = ReplicateModel['input'];
type Property = Schema['properties'][string];

/** Cog's input checks, enough for these models' fields: required, type, enum, range. */
function validateInput(model: ReplicateModel, input: Record<string, unknown>): InvalidField[] {
  const out: InvalidField[] = [];
  const s = model.input;
  for (const field of s.required) {
    if (input[field] === undefined)
      out.push({ type: 'required', field, description: `${field} is required` });
  }
  for (const [field, value] of Object.entries(input)) {
    const p: Property | undefined = s.properties[field];
    if (!p) {
      out.push({
        type: 'additional_property_not_allowed',
        field,
        description: `Additional property ${field} is not allowed`,
      });
      continue;
    }
    const problem = checkValue(p, value);
    if (problem) out.push({ field, ...problem });
  }
  return out;
}

function checkValue(p: Property, value: unknown): { type: string; description: string } | undefined {
  const want = p.type;
  const ok =
    want === 'string'
      ? typeof value === 'string'
      : want === 'boolean'
        ? typeof value === 'boolean'
        : want === 'integer'
          ? Number.isInteger(value)
          : typeof value === 'number' && Number.isFinite(value);
  if (!ok)
    return { type: 'invalid_type', description: `Invalid type. Expected: ${want}, given: ${typeof value}` };
  if (p.enum && !p.enum.includes(value as never)) {
    return {
      type: 'enum',
      description: `${field(value)} must be one of the following: ${p.enum.map((e) => JSON.stringify(e)).join(', ')}`,
    };
  }
  if (typeof value === 'number') {
    if (p.minimum !== undefined && value < p.minimum) {
      return { type: 'greater_than_equal', description: `Must be greater than or equal to ${p.minimum}` };
    }
    if (p.maximum !== undefined && value > p.maximum) {
      return { type: 'less_than_equal', description: `Must be less than or equal to ${p.maximum}` };
    }
  }
  return undefined;
}

function field(value: unknown): string {
  return JSON.stringify(value);
}

function withDefaults(model: ReplicateModel, input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(model.input.properties)) {
    if (p.default !== undefined) out[k] = p.default;
  }
  return { ...out, ...input };
}

// --- presentation ----------------------------------------------------------------------------

function presentVersion(model: ReplicateModel): Record<string, unknown> {
  return {
    id: versionOf(model.name),
    created_at: '2026-01-01T00:00:00.000Z',
    cog_version: null,
    openapi_schema: {
      openapi: '3.0.2',
      info: { title: model.name, version: '1' },
      components: {
        schemas: {
          Input: { ...model.input, title: 'Input' },
          Output: { type: 'string', format: 'uri', title: 'Output' },
        },
      },
    },
  };
}

function presentModel(model: ReplicateModel): Record<string, unknown> {
  const [owner, name] = model.name.split('/');
  return {
    url: `https://replicate.com/${model.name}`,
    owner,
    name,
    description: model.description,
    visibility: 'public',
    github_url: null,
    paper_url: null,
    license_url: null,
    run_count: 0,
    cover_image_url: null,
    default_example: null,
    latest_version: presentVersion(model),
    ...(model.warning ? { pixelift: { warning: model.warning } } : {}),
  };
}

function presentFile(
  upload: Upload,
  base: string,
  name = upload.id,
  metadata: unknown = {},
  data?: Buffer,
): Record<string, unknown> {
  return {
    id: upload.id,
    name,
    content_type: upload.contentType,
    size: upload.bytes,
    ...(data ? { checksums: { sha256: createHash('sha256').update(data).digest('hex') } } : {}),
    metadata,
    created_at: upload.createdAt,
    expires_at: upload.expiresAt,
    urls: { get: `${base}/v1/files/${upload.id}` },
  };
}

// --- errors ----------------------------------------------------------------------------------

function notFound(detail: string): PixeliftError {
  return new PixeliftError('invalid_argument', {
    message: detail,
    replicate: { status: 404, title: 'Not found' },
  });
}

function invalid(field: string, description: string, type: string): PixeliftError {
  return new PixeliftError('invalid_argument', {
    message: `- ${field}: ${description}`,
    param: field,
    replicate: {
      status: 422,
      title: 'Input validation failed',
      invalid_fields: [{ type, field, description }],
    },
  });
}

const TITLES: Record<ReturnType<typeof kindOf>, string> = {
  auth: 'Unauthenticated',
  credits: 'Insufficient credit',
  rate: 'Too many requests',
  unavailable: 'Service unavailable',
  not_found: 'Not found',
  validation: 'Input validation failed',
  conflict: 'Conflict',
  internal: 'Internal server error',
};

function presentError(err: PixeliftError) {
  const own = err.details.replicate as
    | { status: number; title: string; invalid_fields?: unknown[] }
    | undefined;
  if (own) {
    return {
      status: own.status,
      body: {
        title: own.title,
        detail: err.message,
        status: own.status,
        ...(own.invalid_fields ? { invalid_fields: own.invalid_fields } : {}),
      },
    };
  }
  const kind = kindOf(err);
  // Replicate answers bad input with 422 (a 400 is a malformed request).
  const status = kind === 'validation' && err.status === 400 ? 422 : err.status;
  const param = typeof err.details.param === 'string' ? err.details.param : undefined;
  return {
    status,
    body: {
      title: TITLES[kind],
      detail: err.message,
      status,
      ...(kind === 'validation' && param
        ? { invalid_fields: [{ type: err.code, field: param, description: err.message }] }
        : {}),
      code: err.code,
    },
  };
}

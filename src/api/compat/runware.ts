/**
 * Runware (runware.ai/docs, Upscale API) under /compat/runware: `POST /v1` with an array of
 * tasks — `imageUpload`, `upscale`, `getResponse` — answered `{data: [...]}` in task order, and
 * `{errors: [{code, message, parameter, taskType, taskUUID}]}` for the tasks that failed (both
 * keys when some did and some did not). `upscale` takes every documented field; its output is
 * capped at 4096×4096 by shrinking the input first, as Runware does. Sync tasks are held until
 * they finish (up to PIXELIFT_MAX_WAIT); async ones are acknowledged and read back with
 * `getResponse`. `webhookURL` gets `{data: [result]}` (or `{errors: [...]}`) when the task ends.
 *
 * The same tasks arrive over Runware's WebSocket API (runware-socket.ts, what the official SDKs
 * speak): both transports hand each task to `runTask`.
 *
 * Ids: a task's `taskUUID` is the idempotency key of its job (a resent task is the same job, and
 * `getResponse` finds it); the output's `imageUUID` is carried by the job id, an uploaded image's
 * by the upload id, so either can be given back as an `inputImage`.
 */
import { randomUUID } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseImageField } from '../../delivery/image-input.js';
import { isPixeliftError, PixeliftError } from '../../errors.js';
import type { ImageInput, SubmitRequest } from '../../jobs/service.js';
import type { Job, OutputType } from '../../jobs/types.js';
import type { Uses } from '../deps.js';
import { fieldOf } from '../errors.js';
import { abortOnClose } from '../http.js';
import type { Dialect } from './dialect.js';
import { isUuid, jobIdOfUuid } from './ids.js';
import { mountDialect } from './mount.js';
import { inline, type Outcome, outcomeOf, runwareError, withoutStatus } from './payloads/runware.js';
import { socketRoute } from './runware-socket.js';
import type { Task, TaskContext } from './runware-task.js';
import { formatOf } from './topaz.js';

/** What these routes use of the API's dependencies. */
export type RunwareDeps = Uses<{
  jobs: 'service' | 'uploads';
  files: 'blobs' | 'presenter';
  lifecycle: 'shutdownSignal';
  settings: 'maxTasksPerRequest' | 'maxWaitSeconds';
}>;

/** Runware's output cap, px per side. */
const MAX_SIDE = 4096;
const SWINIR = 'runware:503@1';

const uuid = {
  type: 'string',
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
};

const upscaleTask = {
  type: 'object',
  required: ['taskType', 'taskUUID', 'inputImage', 'model'],
  additionalProperties: false,
  properties: {
    taskType: { const: 'upscale' },
    taskUUID: uuid,
    inputImage: { type: 'string', minLength: 1 },
    model: { type: 'string', minLength: 1 },
    upscaleFactor: { enum: [2, 4] },
    outputType: { enum: ['URL', 'base64Data', 'dataURI'] },
    outputFormat: { type: 'string', pattern: '^(?:[jJ][pP][eE]?[gG]|[pP][nN][gG]|[wW][eE][bB][pP])$' },
    outputQuality: { type: 'integer', minimum: 20, maximum: 99 },
    webhookURL: { type: 'string', minLength: 1 },
    deliveryMethod: { enum: ['sync', 'async'] },
    uploadEndpoint: { type: 'string', minLength: 1 },
    ttl: { type: 'integer', minimum: 60 },
    includeCost: { type: 'boolean' },
    settings: {
      type: 'object',
      additionalProperties: false,
      properties: {
        positivePrompt: { type: 'string' },
        negativePrompt: { type: 'string' },
        strength: { type: 'number', minimum: 0, maximum: 1 },
        controlNetWeight: { type: 'number', minimum: 0, maximum: 1 },
        steps: { type: 'integer', minimum: 1, maximum: 100 },
        scheduler: { type: 'string' },
        seed: { type: 'integer', minimum: 0 },
        CFGScale: { type: 'number', minimum: 0, maximum: 50 },
        clipSkip: { type: 'integer', minimum: 0, maximum: 2 },
      },
    },
  },
} as const;

const uploadTask = {
  type: 'object',
  required: ['taskType', 'taskUUID', 'image'],
  additionalProperties: false,
  properties: { taskType: { const: 'imageUpload' }, taskUUID: uuid, image: { type: 'string', minLength: 1 } },
} as const;

const getResponseTask = {
  type: 'object',
  required: ['taskType', 'taskUUID'],
  additionalProperties: false,
  properties: { taskType: { const: 'getResponse' }, taskUUID: uuid },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false, coerceTypes: false });
const VALIDATORS = {
  upscale: ajv.compile(upscaleTask),
  imageUpload: ajv.compile(uploadTask),
  getResponse: ajv.compile(getResponseTask),
} as const;

/** Which `settings` each creative model takes (Runware's compatibility table). */
const SETTINGS_BY_MODEL: Record<string, readonly string[]> = {
  'runware:500@1': [
    'positivePrompt',
    'negativePrompt',
    'strength',
    'controlNetWeight',
    'steps',
    'scheduler',
    'seed',
    'CFGScale',
  ],
  'runware:501@1': ['positivePrompt', 'negativePrompt', 'controlNetWeight', 'steps', 'seed', 'CFGScale'],
  'runware:502@1': ['positivePrompt', 'negativePrompt', 'steps', 'seed', 'CFGScale', 'clipSkip'],
};

interface UpscaleTask {
  taskType: 'upscale';
  taskUUID: string;
  inputImage: string;
  model: string;
  /** Required in Runware's table, yet its own settings example leaves it out: 2 then. */
  upscaleFactor?: 2 | 4;
  outputType?: 'URL' | 'base64Data' | 'dataURI';
  outputFormat?: string;
  outputQuality?: number;
  webhookURL?: string;
  deliveryMethod?: 'sync' | 'async';
  uploadEndpoint?: string;
  ttl?: number;
  includeCost?: boolean;
  settings?: Record<string, unknown>;
}

const OUTPUT_TYPES: Record<string, OutputType> = { URL: 'url', base64Data: 'base64', dataURI: 'data_uri' };

export const runware: Dialect = {
  name: 'runware',

  async mount(api, deps) {
    await mountDialect(
      api,
      '/compat/runware',
      (err) => {
        const e = runwareError(err);
        return { status: e.status, body: { errors: [withoutStatus(e)] } };
      },
      (app) => {
        routes(app, deps);
        socketRoute(app, deps, (task, ctx) => runTask(task, ctx, deps), runwareError);
      },
    );
  },
};

/**
 * The task array as /compat/runware/openapi.json describes it, from the schemas each task is
 * checked with. Documented, not validated by Fastify: runTask answers Runware's per-task errors.
 */
const taskArray = {
  type: 'array',
  minItems: 1,
  items: { oneOf: [uploadTask, upscaleTask, getResponseTask] },
} as const;

/** What /compat/runware/openapi.json says POST /v1 answers (documented only). */
const taskErrorsDoc = {
  type: 'array',
  items: {
    type: 'object',
    required: ['code', 'message'],
    properties: {
      code: { type: 'string' },
      message: { type: 'string' },
      parameter: { type: 'string' },
      taskType: { type: 'string' },
      taskUUID: { type: 'string' },
    },
  },
} as const;
const tasksDoc = {
  type: 'object',
  description: 'One `data` entry per task that succeeded, one `errors` entry per task that did not',
  properties: {
    data: {
      type: 'array',
      items: {
        type: 'object',
        required: ['taskType', 'taskUUID'],
        properties: {
          taskType: { type: 'string', enum: ['imageUpload', 'upscale'] },
          taskUUID: { type: 'string' },
          status: { type: 'string', enum: ['success', 'processing'] },
          progress: { type: 'integer' },
          imageUUID: { type: 'string' },
          inputImageUUID: { type: 'string' },
          imageURL: { type: 'string' },
          imageBase64Data: { type: 'string' },
          imageDataURI: { type: 'string' },
          cost: { type: 'number' },
          warnings: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    errors: taskErrorsDoc,
  },
} as const;
const errorsDoc = {
  description: 'Runware errors',
  type: 'object',
  required: ['errors'],
  properties: { errors: taskErrorsDoc },
} as const;

function routes(app: FastifyInstance, deps: RunwareDeps): void {
  const maxTasks = deps.settings.maxTasksPerRequest ?? 50;
  // Each task is work: it counts against the rate limit as a request would (issue 16).
  const rateCost = (request: FastifyRequest) =>
    Array.isArray(request.body) ? Math.min(request.body.length, maxTasks + 1) : 1;
  app.post(
    '/v1',
    {
      schema: {
        hide: true,
        summary: 'Run tasks (imageUpload, upscale, getResponse)',
        operationId: 'runTasks',
        documentedResponse: { 200: tasksDoc, '4XX': errorsDoc, '5XX': errorsDoc },
        documentedBody: taskArray,
      },
      config: { rateCost },
    },
    async (request, reply) => {
      const body = request.body;
      const tasks: Task[] = Array.isArray(body)
        ? body
        : body && typeof body === 'object'
          ? [body as Task]
          : [];
      const refuse = (message: string) =>
        reply.code(400).send({ errors: [withoutStatus({ code: 'invalidTaskArray', message, status: 400 })] });
      if (tasks.length === 0)
        return refuse('The request body must be a non-empty JSON array of task objects.');
      if (tasks.length > maxTasks) {
        return refuse(
          `The request carries ${tasks.length} tasks; at most ${maxTasks} are taken per request (PIXELIFT_MAX_TASKS_PER_REQUEST).`,
        );
      }
      const ctx: TaskContext = { caller: request.caller, signal: abortOnClose(request).signal };
      const outcomes = await Promise.all(tasks.map((task) => runTask(task, ctx, deps)));
      const data = outcomes.flatMap((o) => ('data' in o ? [o.data] : []));
      const errors = outcomes.flatMap((o) => ('error' in o ? [o.error] : []));
      const status = data.length === 0 && errors[0] ? errors[0].status : 200;
      return reply.code(status).send({
        ...(data.length > 0 || errors.length === 0 ? { data } : {}),
        ...(errors.length > 0 ? { errors: errors.map(withoutStatus) } : {}),
      });
    },
  );
}

/** One task, whichever transport brought it: its `data` entry, or its `errors` entry. */
export async function runTask(task: Task, ctx: TaskContext, deps: RunwareDeps): Promise<Outcome> {
  const who = {
    taskType: typeof task?.taskType === 'string' ? task.taskType : undefined,
    taskUUID: typeof task?.taskUUID === 'string' ? task.taskUUID : undefined,
  };
  try {
    if (!task || typeof task !== 'object' || Array.isArray(task)) {
      throw invalid('task', 'invalidTask', 'Each task must be a JSON object');
    }
    const type = who.taskType;
    if (type !== 'upscale' && type !== 'imageUpload' && type !== 'getResponse') {
      throw invalid(
        'taskType',
        'invalidTaskType',
        type === undefined
          ? 'Missing parameter taskType'
          : `Task type "${type}" is not served here; use upscale, imageUpload or getResponse`,
      );
    }
    const validate = VALIDATORS[type];
    if (!validate(task)) throw fromAjv(validate.errors ?? []);
    if (type === 'imageUpload')
      return { data: await upload(task as Task & { image: string; taskUUID: string }, ctx, deps) };
    if (type === 'getResponse') return await getResponse(who.taskUUID!, ctx, deps);
    return await upscale(task as unknown as UpscaleTask, ctx, deps);
  } catch (err) {
    return { error: { ...runwareError(err), ...who } };
  }
}

async function upload(task: { image: string; taskUUID: string }, ctx: TaskContext, deps: RunwareDeps) {
  const image = await inputOf(task.image, 'image', deps);
  const data = await deps.jobs.service.inputBytes(image, ctx.caller, ctx.signal);
  const imageUUID = randomUUID();
  await deps.jobs.uploads.store(ctx.caller, data, uploadIdOf(imageUUID));
  return { taskType: 'imageUpload', taskUUID: task.taskUUID, imageUUID };
}

async function upscale(task: UpscaleTask, ctx: TaskContext, deps: RunwareDeps): Promise<Outcome> {
  if (task.upscaleFactor === 4 && task.model !== SWINIR && task.model.startsWith('runware:')) {
    throw invalid(
      'upscaleFactor',
      'unsupportedUpscaleFactor',
      `Only SwinIR (${SWINIR}) supports upscaleFactor 4; ${task.model} takes 2`,
    );
  }
  const warnings: string[] = [];
  const settings = Object.keys(task.settings ?? {});
  if (settings.length > 0) {
    const takes = SETTINGS_BY_MODEL[task.model] ?? [];
    const unsupported = settings.filter((s) => !takes.includes(s));
    if (unsupported.length > 0) {
      throw invalid(
        `settings.${unsupported[0]}`,
        'unsupportedParameter',
        `${task.model} does not take settings.${unsupported[0]}`,
      );
    }
    warnings.push(
      `settings (${settings.join(', ')}) steer generative upscaling, which Pixelift does not do; they were accepted and ignored.`,
    );
  }
  const type = OUTPUT_TYPES[task.outputType ?? 'URL']!;
  if (task.ttl !== undefined && type !== 'url') {
    warnings.push('ttl only applies to outputType URL; it was ignored.');
  }
  const imageUUID = randomUUID();
  const input = await inputOf(task.inputImage, 'inputImage', deps);
  const req: SubmitRequest = {
    id: jobIdOfUuid(imageUUID),
    image: input,
    model: task.model,
    scale: task.upscaleFactor ?? 2,
    maxOutputSide: MAX_SIDE,
    oversize: 'downscale_input',
    output: {
      format: formatOf(task.outputFormat ?? 'JPG'),
      quality: task.outputQuality ?? 95,
      type,
      uploadUrl: task.uploadEndpoint,
      ...(task.ttl !== undefined && type === 'url' ? { ttlSeconds: task.ttl } : {}),
    },
    ...(task.webhookURL
      ? { webhook: { url: task.webhookURL, events: ['completed', 'failed'] as const } }
      : {}),
    dialect: 'runware',
    dialectData: {
      taskUUID: task.taskUUID,
      includeCost: task.includeCost ?? false,
      ...(isUuid(task.inputImage) ? { inputImageUUID: task.inputImage.toLowerCase() } : {}),
    },
    warnings,
  };
  const { job } = await deps.jobs.service.submit(
    req,
    ctx.caller,
    { key: taskKey(task.taskUUID), body: task },
    ctx.signal,
  );
  if ((task.deliveryMethod ?? 'sync') === 'async') {
    return { data: { taskType: 'upscale', taskUUID: task.taskUUID, status: 'processing' } };
  }
  // Held until the job ends, the server shuts down, or the client is gone (a closed socket).
  // By hand rather than AbortSignal.any: listeners on the long-lived shutdown signal are removed.
  const stop = new AbortController();
  const abort = () => stop.abort();
  const sources = [deps.lifecycle.shutdownSignal, ctx.signal];
  for (const s of sources) {
    if (s.aborted) stop.abort();
    s.addEventListener('abort', abort, { once: true });
  }
  let done: Job;
  try {
    done = await deps.jobs.service.wait(job.id, ctx.caller, deps.settings.maxWaitSeconds * 1000, stop.signal);
  } finally {
    for (const s of sources) s.removeEventListener('abort', abort);
  }
  if (done.status === 'queued' || done.status === 'running') {
    throw new PixeliftError('wait_timeout', {
      seconds: deps.settings.maxWaitSeconds,
      id: task.taskUUID,
      hint: `poll it with {"taskType": "getResponse", "taskUUID": "${task.taskUUID}"}, or send it with deliveryMethod "async"`,
    });
  }
  return outcomeOf(done, await inline(done, deps.files), deps.files);
}

async function getResponse(taskUUID: string, ctx: TaskContext, deps: RunwareDeps): Promise<Outcome> {
  const job = await deps.jobs.service.findIdempotent(ctx.caller, taskKey(taskUUID));
  if (!job) throw new PixeliftError('job_not_found', { id: taskUUID });
  if (job.status === 'queued' || job.status === 'running') {
    return {
      data: {
        taskType: 'upscale',
        taskUUID,
        status: 'processing',
        progress: Math.round(job.progress * 100),
      },
    };
  }
  return outcomeOf(job, await inline(job, deps.files), deps.files);
}

/** `inputImage`: a UUID (an uploaded image or an earlier result), a data URI, base64, or a URL. */
async function inputOf(value: string, param: string, deps: RunwareDeps): Promise<ImageInput> {
  if (isUuid(value)) {
    const uploadId = uploadIdOf(value);
    if (await deps.jobs.uploads.get(uploadId)) return { kind: 'upload', id: uploadId };
    return { kind: 'result', jobId: jobIdOfUuid(value) };
  }
  try {
    return parseImageField(value);
  } catch (err) {
    if (isPixeliftError(err)) throw new PixeliftError(err.code, { ...err.details, param });
    throw err;
  }
}

function uploadIdOf(imageUUID: string): string {
  return `upl_${imageUUID.toLowerCase().replace(/-/g, '')}`;
}

function taskKey(taskUUID: string): string {
  return `runware:${taskUUID.toLowerCase()}`;
}

/** A 400 with Runware's own code for it. */
function invalid(parameter: string, code: string, message: string): PixeliftError {
  return new PixeliftError('invalid_argument', { param: parameter, message, runware: code });
}

function fromAjv(issues: readonly ErrorObject[]): PixeliftError {
  const issue = issues[0]!;
  const field = fieldOf(issue);
  if (issue.keyword === 'required') return invalid(field, 'missingParameter', `Missing parameter ${field}`);
  if (issue.keyword === 'additionalProperties') {
    return invalid(field, 'unsupportedParameter', `Unsupported parameter ${field}`);
  }
  const allowed = issue.params.allowedValues as unknown[] | undefined;
  const what = allowed ? `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}` : issue.message;
  return invalid(
    field,
    `invalid${field.charAt(0).toUpperCase()}${field.slice(1).replace(/\..*/, '')}`,
    `Invalid value for ${field}: ${what}`,
  );
}

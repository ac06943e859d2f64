/**
 * Runware's task answers as they leave: a finished job as a `data` entry or an `errors` entry
 * with Runware's codes (the REST and WebSocket answers in ../runware.ts alike), and the
 * `webhookURL` body. Plain (no Fastify): `pixelift worker` formats the webhooks too.
 */
import { PixeliftError } from '../../../errors.js';
import type { Job, JobEvent } from '../../../jobs/types.js';
import type { BlobStore } from '../../../storage/blob-store.js';
import { toPixeliftError } from '../../errors.js';
import type { Presenter } from '../../present.js';
import type { DialectWebhooks, WebhookContext } from '../../webhooks/context.js';
import { uuidOfJobId } from '../ids.js';
import { resultBytes, resultUrl } from '../results.js';

/** One task's answer: a `data` entry or an `errors` entry. */
export type Outcome = { data: Record<string, unknown> } | { error: RunwareError };
export interface RunwareError {
  code: string;
  message: string;
  parameter?: string;
  taskType?: string;
  taskUUID?: string;
  status: number;
}

export function runwareWebhooks(ctx: WebhookContext): DialectWebhooks {
  return {
    // The result inlined in the message is read before the transaction that queues it.
    formatter: {
      prepare: (job) => inline(job, ctx),
      format: (job, event, bytes) => callback(job, event, bytes as Buffer | null, ctx),
    },
    signers: { runware: () => ({}) },
  };
}

/** A finished job as Runware's `data` entry (or its `errors` entry). */
export function outcomeOf(job: Job, bytes: Buffer | null, deps: { readonly presenter: Presenter }): Outcome {
  const d = job.request.dialectData ?? {};
  const taskUUID = String(d.taskUUID);
  if (job.status !== 'succeeded' || !job.result) {
    const err = job.error ?? { code: job.status, message: `The task ended ${job.status}` };
    return {
      error: {
        ...runwareError(
          new PixeliftError('invalid_argument', { message: err.message, runware: codeOfJobError(err.code) }),
        ),
        status: job.status === 'canceled' ? 409 : 400,
        taskType: 'upscale',
        taskUUID,
      },
    };
  }
  const r = job.result;
  const type = job.request.output.type;
  return {
    data: {
      taskType: 'upscale',
      taskUUID,
      status: 'success',
      imageUUID: uuidOfJobId(job.id) ?? job.id,
      ...(d.inputImageUUID ? { inputImageUUID: d.inputImageUUID } : {}),
      ...(type === 'url' ? { imageURL: resultUrl(job, deps) } : {}),
      ...(type === 'base64' && bytes ? { imageBase64Data: bytes.toString('base64') } : {}),
      ...(type === 'data_uri' && bytes
        ? { imageDataURI: `data:${r.contentType};base64,${bytes.toString('base64')}` }
        : {}),
      ...(d.includeCost ? { cost: job.cost } : {}),
      ...(job.warnings.length > 0 ? { warnings: job.warnings } : {}),
    },
  };
}

export async function inline(job: Job, deps: { readonly blobs: BlobStore }): Promise<Buffer | null> {
  return job.status === 'succeeded' && job.request.output.type !== 'url' ? resultBytes(job, deps) : null;
}

function callback(job: Job, event: JobEvent, bytes: Buffer | null, ctx: WebhookContext) {
  if (!job.request.webhook || (event.type !== 'completed' && event.type !== 'failed')) return undefined;
  const outcome = outcomeOf(job, bytes, ctx);
  return {
    url: job.request.webhook.url,
    scheme: 'runware',
    messageId: `${job.id}_${event.id}`,
    payload: JSON.stringify(
      'data' in outcome ? { data: [outcome.data] } : { errors: [withoutStatus(outcome.error)] },
    ),
  };
}

/** Pixelift error → Runware's `{code, message, parameter}` (+ the HTTP status for the whole answer). */
export function runwareError(raw: unknown): RunwareError {
  const err = toPixeliftError(raw as Error);
  const d = err.details;
  const param = typeof d.param === 'string' ? (PARAMS[d.param] ?? d.param) : undefined;
  const code =
    typeof d.runware === 'string'
      ? d.runware
      : (codeOfParam(err, param) ??
        CODES[err.code] ??
        (err.status === 404 ? 'notFound' : err.status >= 500 ? 'unexpectedError' : 'invalidParameter'));
  return { code, message: err.message, ...(param ? { parameter: param } : {}), status: err.status };
}

/**
 * A refused URL or value is about the field it came in: `invalidInputImage` for `inputImage`
 * (a bad data URI too), `invalidWebhookURL`, `invalidUploadEndpoint`; not the image's code for all.
 */
function codeOfParam(err: PixeliftError, param: string | undefined): string | undefined {
  const byValue =
    err.code === 'invalid_argument' || err.code === 'url_invalid' || err.code === 'url_forbidden';
  if (!byValue || param === undefined) return undefined;
  return PARAM_CODES[param];
}

const PARAM_CODES: Record<string, string> = {
  inputImage: 'invalidInputImage',
  webhookURL: 'invalidWebhookURL',
  uploadEndpoint: 'invalidUploadEndpoint',
};

export function withoutStatus(e: RunwareError): Omit<RunwareError, 'status'> {
  const { status: _s, ...rest } = e;
  return rest;
}

function codeOfJobError(code: string): string {
  return CODES[code] ?? (code === 'canceled' ? 'taskCanceled' : 'inferenceFailed');
}

/** Native field names in errors from below → Runware's. */
const PARAMS: Record<string, string> = {
  image: 'inputImage',
  scale: 'upscaleFactor',
  'webhook.url': 'webhookURL',
  'output.upload_url': 'uploadEndpoint',
  'output.ttl': 'ttl',
};

const CODES: Record<string, string> = {
  unauthorized: 'invalidApiKey',
  insufficient_credits: 'insufficientCredits',
  rate_limited: 'rateLimitExceeded',
  too_many_tasks: 'tooManyTasksInFlight',
  queue_full: 'serviceUnavailable',
  key_queue_full: 'rateLimitExceeded',
  shutting_down: 'serviceUnavailable',
  model_not_found: 'invalidModel',
  model_not_installed: 'invalidModel',
  image_unreadable: 'invalidInputImage',
  image_too_large: 'invalidInputImage',
  image_format_refused: 'invalidInputImage',
  image_not_found: 'invalidInputImage',
  upload_not_found: 'invalidInputImage',
  url_invalid: 'invalidInputImage',
  url_forbidden: 'invalidInputImage',
  url_fetch_failed: 'invalidInputImage',
  url_timeout: 'invalidInputImage',
  output_too_large: 'invalidUpscaleFactor',
  idempotency_key_reused: 'duplicateTaskUUID',
  invalid_json: 'invalidJSON',
  body_too_large: 'payloadTooLarge',
  route_not_found: 'notFound',
  upload_failed: 'uploadEndpointFailed',
  attempts_exhausted: 'inferenceFailed',
  job_not_found: 'taskNotFound',
  wait_timeout: 'timeoutProvider',
};

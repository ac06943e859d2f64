/**
 * The error registry: every error Pixelift raises has a stable `code` that callers branch on,
 * the HTTP status the API answers with, whether retrying the same request can succeed, and a
 * message template. Callers never match on message text.
 *
 * Adding a code: add it here and document it in docs/errors.md (a test checks both).
 */

export interface ErrorSpec {
  /** HTTP status the API maps this error to. */
  readonly status: number;
  /** True when the same request may succeed if tried again later. */
  readonly retryable: boolean;
  /** Message template; `{name}` placeholders are filled from the error's details. */
  readonly message: string;
}

export const ERRORS = {
  // --- arguments and configuration -------------------------------------------------------------
  invalid_argument: { status: 400, retryable: false, message: '{message}' },
  invalid_config: { status: 500, retryable: false, message: 'Invalid configuration: {message}' },

  // --- images ---------------------------------------------------------------------------------
  image_unreadable: { status: 422, retryable: false, message: 'Cannot read the image {file}: {reason}' },
  image_too_large: { status: 413, retryable: false, message: 'The image is too large: {reason}' },
  image_format_refused: { status: 422, retryable: false, message: '{format} input is refused: {reason}' },
  output_too_large: {
    status: 422,
    retryable: false,
    message: 'The output would be {width}x{height} ({megapixels} MP), above the limit of {limit}',
  },

  // --- outbound requests to client-given URLs: images, webhooks, result uploads (src/delivery/) ----
  url_invalid: { status: 400, retryable: false, message: 'Cannot use the URL {url}: {reason}' },
  /**
   * 400, not 403: the request itself names a target this server will never fetch, whoever sends it;
   * no credential changes that, and 403 would send clients looking at their API key.
   */
  url_forbidden: {
    status: 400,
    retryable: false,
    message:
      'Refusing to connect to {url}: {address} is {reason}. Set PIXELIFT_ALLOW_PRIVATE_URLS=true to let image, webhook and upload URLs reach private and local addresses',
  },
  url_fetch_failed: { status: 502, retryable: true, message: 'The request to {url} failed: {reason}' },
  url_timeout: {
    status: 504,
    retryable: true,
    message: 'The request to {url} took longer than {timeoutMs} ms',
  },

  // --- models -----------------------------------------------------------------------------------
  model_not_found: { status: 404, retryable: false, message: 'Unknown model "{model}"' },
  model_not_installed: {
    status: 503,
    retryable: false,
    message: 'Model "{model}" is not installed: {reason}',
  },
  model_scale_unsupported: {
    status: 400,
    retryable: false,
    message: 'Model "{model}" does not run at scale {scale}; it supports {scales}',
  },
  precision_unsupported: {
    status: 422,
    retryable: false,
    message: 'Model "{model}" cannot run in {precision}: {reason}. Use precision fp32 or auto',
  },
  model_format_invalid: { status: 422, retryable: false, message: 'Invalid model file {file}: {message}' },
  model_layer_unsupported: {
    status: 422,
    retryable: false,
    message: 'Unsupported {format} layer type "{layer}" ({name}) at {file}:{line}',
  },
  model_manifest_invalid: {
    status: 422,
    retryable: false,
    message: 'Invalid model manifest {file}: {message}',
  },
  model_unsafe: {
    status: 422,
    retryable: false,
    message:
      'Refusing to load {file}: its pickle names {global}, which is not part of a state dict (loading it could run code)',
  },
  model_unreadable: {
    status: 422,
    retryable: false,
    message: 'Cannot read the model file {file}: {message}',
  },
  model_arch_unknown: {
    status: 422,
    retryable: false,
    message: 'No supported architecture recognises the state dict in {file} (first keys: {keys})',
  },
  model_too_large: {
    status: 413,
    retryable: false,
    message: 'The model file {file} is {bytes} bytes, above the limit of {limit} (PIXELIFT_MAX_MODEL_BYTES)',
  },
  model_verification_failed: {
    status: 500,
    retryable: false,
    message: 'Model "{model}" failed verification: {message}',
  },

  // --- runtime ----------------------------------------------------------------------------------
  device_unavailable: {
    status: 503,
    retryable: false,
    message: 'Execution provider "{device}" is not available on this machine: {reason}',
  },
  inference_failed: { status: 500, retryable: true, message: 'Inference failed: {message}' },
  canceled: { status: 409, retryable: false, message: 'The work was canceled' },
  worker_crashed: {
    status: 500,
    retryable: true,
    message: 'The worker process running this image exited ({reason}); it has been replaced',
  },
  internal: { status: 500, retryable: true, message: 'Internal error: {message}' },
  // --- the service: requests ----------------------------------------------------------------------
  unauthorized: {
    status: 401,
    retryable: false,
    message:
      'A valid API key is required: send it as "Authorization: Bearer <key>", "X-API-Key: <key>" or Basic auth with the key as user name',
  },
  invalid_json: { status: 400, retryable: false, message: 'The request body is not valid JSON: {reason}' },
  body_too_large: { status: 413, retryable: false, message: 'The request body is larger than {limit} bytes' },
  multipart_invalid: {
    status: 400,
    retryable: false,
    message: 'The multipart/form-data body cannot be read: {reason}',
  },
  unsupported_media_type: {
    status: 415,
    retryable: false,
    message: 'Unsupported Content-Type "{contentType}"; send {expected}',
  },
  forbidden: {
    status: 403,
    retryable: false,
    message: '{action} needs an admin key (`pixelift keys create --admin`)',
  },
  route_not_found: { status: 404, retryable: false, message: 'No route {method} {url}' },
  idempotency_key_reused: {
    status: 422,
    retryable: false,
    message: 'Idempotency-Key "{key}" was already used with a different request body',
  },
  insufficient_credits: {
    status: 402,
    retryable: false,
    message: 'This job costs {cost} credits and the key has {credits} left',
  },
  rate_limited: {
    status: 429,
    retryable: true,
    message: 'Too many requests: {limit} per {window}; retry in {retryAfter} s',
  },
  too_many_tasks: {
    status: 429,
    retryable: true,
    message: 'Too many tasks in flight: at most {limit} per {scope}; send more as these finish',
  },
  key_queue_full: {
    status: 429,
    retryable: true,
    message:
      'This key has {queued} jobs waiting, its share of the queue (PIXELIFT_MAX_QUEUED_PER_KEY); retry in {retryAfter} s',
  },
  queue_full: {
    status: 503,
    retryable: true,
    message: 'The queue is full ({queued} jobs waiting); retry in {retryAfter} s',
  },
  shutting_down: {
    status: 503,
    retryable: true,
    message: 'The server is shutting down; retry on another node or later',
  },

  // --- the service: jobs, files, webhooks -------------------------------------------------------
  job_not_found: { status: 404, retryable: false, message: 'No job "{id}"' },
  job_not_cancelable: { status: 409, retryable: false, message: 'Job "{id}" has already ended ({status})' },
  /** A synchronous route (a compat dialect's) gave up waiting; the job itself goes on. */
  wait_timeout: {
    status: 504,
    retryable: false,
    message: 'The job did not finish within {seconds} s; it keeps running as "{id}": {hint}',
  },
  image_not_found: {
    status: 404,
    retryable: false,
    message: 'No image "{id}": {reason}',
  },
  upload_not_found: {
    status: 404,
    retryable: false,
    message: 'No upload "{id}" (uploads expire after {ttl})',
  },
  file_not_found: { status: 404, retryable: false, message: 'No file "{id}": it was deleted or has expired' },
  file_link_invalid: {
    status: 403,
    retryable: false,
    message: 'The file link is invalid or has expired; fetch the job again for a fresh link',
  },
  blob_not_found: { status: 404, retryable: false, message: 'No stored blob "{key}"' },
  attempts_exhausted: {
    status: 500,
    retryable: false,
    message: 'The job was interrupted {attempts} times (worker or server crashes) and was given up',
  },
  webhook_not_configured: { status: 409, retryable: false, message: 'Job "{id}" has no webhook' },
  upload_failed: { status: 502, retryable: true, message: 'PUT of the result to {url} failed: {reason}' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export type ErrorDetails = Record<string, unknown>;

/** The one error class. `code` is the stable identifier; `details` fill the message template. */
export class PixeliftError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    const spec: ErrorSpec = ERRORS[code];
    super(formatMessage(spec.message, details), options);
    this.name = 'PixeliftError';
    this.code = code;
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: ErrorDetails } {
    const { message: _m, ...rest } = this.details;
    return Object.keys(rest).length > 0
      ? { code: this.code, message: this.message, details: rest }
      : { code: this.code, message: this.message };
  }
}

export function isPixeliftError(err: unknown, code?: ErrorCode): err is PixeliftError {
  return err instanceof PixeliftError && (code === undefined || err.code === code);
}

function formatMessage(template: string, details: ErrorDetails): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    key in details ? String(details[key]) : whole,
  );
}

/**
 * Argument errors that read the same everywhere (after sharp's `is.invalidParameterError`):
 * `Expected positive integer for tile but received 1.5 of type number`.
 */
export function invalidArgument(name: string, expected: string, actual: unknown): PixeliftError {
  const shown = typeof actual === 'string' ? JSON.stringify(actual) : String(actual);
  return new PixeliftError('invalid_argument', {
    param: name,
    message: `Expected ${expected} for ${name} but received ${shown} of type ${typeof actual}`,
  });
}

/**
 * The messages between the pool (parent) and a worker child, as discriminated unions. They
 * travel over the IPC channel of `child_process.fork` with `serialization: 'advanced'` (V8's
 * structured clone), so image Buffers cross as bytes, not base64 JSON.
 *
 * Handshake: the child loads onnxruntime and sharp, then says `ready`; the parent answers
 * `init` (the settings its store is built from, once) and then sends `run`s, one at a time.
 * The child speaks first because IPC messages that arrive before its listener is attached
 * would be lost while its modules are still loading.
 */
import type { Config, Device, GraphOptimizationLevel, Precision } from '../config.js';
import type { RunEstimate } from '../engine/pace.js';
import type { UpscaleInfo, UpscaleOptions } from '../engine/pipeline.js';
import { ERRORS, type ErrorCode, type ErrorDetails, isPixeliftError, PixeliftError } from '../errors.js';

/**
 * What a child needs to build its ModelStore and logger: the parent's *effective* config
 * (env plus CLI flags such as --device/--threads). The child never reads the environment itself.
 */
export interface WorkerSettings {
  readonly modelCacheDir: string;
  readonly modelsDir: string;
  readonly device: Device;
  /** onnxruntime intra-op threads per session, in each child. */
  readonly threads: number;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  /** A pino level, or `silent`. */
  readonly logLevel: string;
  /** `json`: pino lines on stderr; `pretty`: the human one-line format. */
  readonly logFormat: 'json' | 'pretty';
  /** Where the weight packages are looked up (default: the child's own node_modules chain). */
  readonly packageRoot?: string;
  /** PIXELIFT_MAX_MODEL_BYTES: the largest PyTorch/safetensors file a child converts. */
  readonly maxModelBytes?: number;
  /** Working memory for one image's inference, bytes (default: the engine's). */
  readonly memoryBudget?: number;
  /** PIXELIFT_TILING. */
  readonly tiling?: 'exact' | 'context';
  /** PIXELIFT_FACE_MODEL. */
  readonly faceModel?: string;
  /** PIXELIFT_PRECISION: what a run whose options name no precision runs in. */
  readonly precision?: Precision;
  /**
   * Whether `auto` quantizes a missing int8 file in the background (default true: a server's
   * or library's children live on; the CLI's end with their images, so it says false).
   */
  readonly quantizeInBackground?: boolean;
}

/** The settings a child gets from a resolved Config; the CLI defaults to `pretty` logs. */
export function workerSettings(config: Config, logFormat: 'json' | 'pretty' = 'json'): WorkerSettings {
  return {
    modelCacheDir: config.modelCacheDir,
    modelsDir: config.modelsDir,
    device: config.device,
    threads: config.threads,
    graphOptimizationLevel: config.graphOptimizationLevel,
    logLevel: config.logLevel,
    logFormat: config.logFormat ?? logFormat,
    maxModelBytes: config.maxModelBytes,
    memoryBudget: config.memoryBudget,
    tiling: config.tiling,
    precision: config.precision,
    ...(config.faceModel === undefined ? {} : { faceModel: config.faceModel }),
  };
}

/** Jobs are numbered by the pool; a child answers with the id it was given. */
export type JobId = number;

export type ParentMessage =
  | { readonly type: 'init'; readonly settings: WorkerSettings }
  | {
      readonly type: 'run';
      readonly jobId: JobId;
      /** Encoded image bytes, or a path the child reads itself. */
      readonly input: Buffer | string;
      readonly options: UpscaleOptions;
    };

export type ChildMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly jobId: JobId; readonly fraction: number }
  /** A network run that blocks the child is starting: the parent moves progress on meanwhile (progress.ts). */
  | { readonly type: 'estimate'; readonly jobId: JobId; readonly estimate: RunEstimate }
  | { readonly type: 'notice'; readonly jobId: JobId; readonly message: string }
  | { readonly type: 'done'; readonly jobId: JobId; readonly data: Buffer; readonly info: UpscaleInfo }
  | { readonly type: 'failed'; readonly jobId: JobId; readonly error: WireError };

/** A PixeliftError as plain data. */
export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly retryable: boolean;
  readonly details: ErrorDetails;
}

/** PixeliftError → its code and details; anything else → `internal` with its message. */
export function toWireError(err: unknown): WireError {
  const e = isPixeliftError(err)
    ? err
    : new PixeliftError('internal', { message: err instanceof Error ? err.message : String(err) });
  return { code: e.code, message: e.message, retryable: e.retryable, details: plain(e.details) };
}

/** The parent's side: the same code, details and (re-rendered) message. */
export function fromWireError(wire: WireError): PixeliftError {
  if (!Object.hasOwn(ERRORS, wire.code)) return new PixeliftError('internal', { message: wire.message });
  return new PixeliftError(wire.code, wire.details);
}

/** Details may hold anything; only what JSON can carry is sure to survive the structured clone. */
function plain(details: ErrorDetails): ErrorDetails {
  try {
    return JSON.parse(JSON.stringify(details)) as ErrorDetails;
  } catch {
    return typeof details.message === 'string' ? { message: details.message } : {};
  }
}

/**
 * The one internal request type every dialect translates into, and the one Job every dialect
 * translates out of (DESIGN §1). Plain JSON-able data: it is persisted as is (SQLite now,
 * PostgreSQL in scale-out) and sent to clients by the API's serializers.
 */
import type { OutputFormat } from '../engine/encode.js';
import type { FaceReport } from '../engine/faces/pass.js';
import type { UpscaleOptions } from '../engine/pipeline.js';
import type { RunPrecision } from '../models/precision.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'expired';
export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'running',
  'succeeded',
  'failed',
  'canceled',
  'expired',
];
export const TERMINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'canceled', 'expired'];
export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/** How a job's result is handed back. */
export type OutputType = 'url' | 'base64' | 'data_uri';
export const OUTPUT_TYPES: readonly OutputType[] = ['url', 'base64', 'data_uri'];

/** Events a client can follow (SSE) and subscribe a webhook to. */
export type JobEventType =
  | 'queued'
  | 'started'
  | 'progress'
  | 'completed'
  | 'failed'
  | 'canceled'
  | 'expired';
export const JOB_EVENT_TYPES: readonly JobEventType[] = [
  'queued',
  'started',
  'progress',
  'completed',
  'failed',
  'canceled',
  'expired',
];

export interface OutputSpec {
  readonly format?: OutputFormat;
  readonly quality?: number;
  /** Keep EXIF/XMP (the ICC profile is always kept). */
  readonly keepMetadata?: boolean;
  readonly type: OutputType;
  /** The bytes are PUT here when the job succeeds (SSRF rules as for image URLs). */
  readonly uploadUrl?: string;
  /** Seconds the result is kept after the job ends; then it is swept and the job `expired`. */
  readonly ttlSeconds: number;
}

export interface WebhookSpec {
  readonly url: string;
  /** Events delivered; default: completed, failed, canceled. */
  readonly events: readonly JobEventType[];
}

/**
 * What the engine is asked to do, as the pipeline's own options name it (model id or alias,
 * scale or size + fit, oversize policy, knobs): one definition for requests, jobs and the engine.
 */
export type UpscaleShape = Pick<
  UpscaleOptions,
  | 'model'
  | 'precision'
  | 'scale'
  | 'width'
  | 'height'
  | 'fit'
  | 'oversize'
  | 'maxOutputSide'
  | 'denoise'
  | 'fix_compression'
  | 'sharpen'
  | 'face'
>;

/**
 * Everything needed to run the job again after a crash. The input bytes are stored as a blob at
 * submission (URLs are fetched then, so that cost and output size are known and charged up
 * front and a restart never depends on the remote server again).
 */
export interface UpscaleRequest extends UpscaleShape {
  /** Blob key of the stored input bytes. */
  readonly inputBlob: string;
  /** What the client sent as `image`, for the record: the URL, `upload:<id>`, or `inline`. */
  readonly inputSource: string;
  readonly output: OutputSpec;
  readonly webhook?: WebhookSpec;
  /** Which API created the job: `native` or a compat dialect (`runflow`, …); issue 5 reads it. */
  readonly dialect: string;
  /** Free-form data the dialect needs to answer in its own shapes (e.g. a provider task id). */
  readonly dialectData?: Readonly<Record<string, unknown>>;
}

export interface ImageInfo {
  readonly width: number;
  readonly height: number;
  readonly format: string;
}

export interface JobError {
  readonly code: string;
  readonly message: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface JobResult {
  /** Id of the stored file (GET /v1/files/:id with a signature). */
  readonly fileId: string;
  readonly blobKey: string;
  readonly contentType: string;
  readonly bytes: number;
  readonly width: number;
  readonly height: number;
  readonly format: OutputFormat;
  /** Faces found (input pixels: box, score, 5 landmarks), when the request asked for faces. */
  readonly faces?: readonly FaceReport[];
}

export interface JobTimings {
  /** Submission to start, ms. */
  readonly queueMs?: number;
  readonly decodeMs?: number;
  readonly inferMs?: number;
  readonly encodeMs?: number;
  /** Start to end of the run, ms. */
  readonly runMs?: number;
}

export interface JobModel {
  readonly requested: string | null;
  readonly used: string;
  readonly precision: RunPrecision;
}

export interface Job {
  readonly id: string;
  readonly status: JobStatus;
  /** 0..1 of the inference work. */
  readonly progress: number;
  /** Seconds until the job should end (estimate), or null when unknown/ended. */
  readonly etaSeconds: number | null;
  /** Id of the API key that created it (never the secret); null in open mode. */
  readonly keyId: string | null;
  readonly request: UpscaleRequest;
  /** `precision`: what the network runs in, decided at submission (src/models/precision.ts). */
  readonly model: JobModel;
  readonly input: ImageInfo;
  /** Planned output size at submission; replaced by the real one when the job succeeds. */
  readonly output: ImageInfo & { readonly bytes?: number };
  /** Credits charged (output megapixels × model rate). */
  readonly cost: number;
  /** True once a charge was refunded (failed, canceled). */
  readonly refunded: boolean;
  readonly warnings: readonly string[];
  readonly error: JobError | null;
  readonly result: JobResult | null;
  /** Runs started (1 after the first start; a crash-resume increments it). */
  readonly attempts: number;
  readonly metadata: Readonly<Record<string, unknown>> | null;
  readonly timings: JobTimings;
  readonly createdAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  /** When the result is swept (set when the job ends). */
  readonly expiresAt: string | null;
}

/** A stored event; `id` increases across the whole event log (SSE `id:` and `Last-Event-ID`). */
export interface JobEvent {
  readonly id: number;
  readonly jobId: string;
  readonly keyId: string | null;
  readonly type: JobEventType;
  /** The job as it was when the event happened (progress events carry progress + eta only). */
  readonly data: Readonly<Record<string, unknown>>;
  readonly createdAt: string;
}

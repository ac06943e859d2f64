/**
 * Submitting and managing jobs, whatever dialect the request came in (DESIGN §1): a dialect
 * turns its body into a SubmitRequest; this turns that into a stored, charged, queued Job.
 *
 * The input is resolved at submission (a URL fetched, an upload looked up, inline bytes taken)
 * and stored as a blob: its header gives the output size, hence the cost charged now and the
 * ETA, and a job that must run again after a crash never depends on a remote server again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { DEFAULTS, type Limits, type Precision } from '../config.js';
import { probe } from '../engine/decode.js';
import type { OutputFormat } from '../engine/encode.js';
import { checkFaceRequest } from '../engine/faces/pass.js';
import { plan } from '../engine/plan.js';
import { checkKnobs, knobsWithPreset } from '../engine/post.js';
import { invalidArgument, PixeliftError } from '../errors.js';
import type { Logger } from '../log.js';
import { runPrecision } from '../models/precision.js';
import type { ModelStore } from '../models/store.js';
import type { BlobStore } from '../storage/blob-store.js';
import { jobCost, runSeconds } from './cost.js';
import type { JobEvents } from './events.js';
import { checkInputFormat } from './input-format.js';
import { checkMetadata } from './metadata.js';
import type { QueuePort } from './queue.js';
import type { Created, JobStore, ListJobsQuery, UploadStore } from './store.js';
import {
  isTerminal,
  type Job,
  type JobEventType,
  type JobModel,
  type OutputType,
  type UpscaleRequest,
  type UpscaleShape,
} from './types.js';

/** The image as the client gave it, already told apart (see delivery/image-input.ts). */
export type ImageInput =
  | { readonly kind: 'url'; readonly url: string }
  | { readonly kind: 'upload'; readonly id: string }
  | { readonly kind: 'bytes'; readonly data: Buffer }
  /** The result of an earlier job of the same key (compat dialects refer to outputs by id). */
  | { readonly kind: 'result'; readonly jobId: string };

export interface SubmitRequest extends UpscaleShape {
  /** The job id, when a dialect derives it from its own ids (`job_` + 1..64 of [A-Za-z0-9]); default: new. */
  readonly id?: string;
  readonly image: ImageInput;
  readonly output?: {
    readonly format?: OutputFormat;
    readonly quality?: number;
    readonly keepMetadata?: boolean;
    readonly type?: OutputType;
    readonly uploadUrl?: string;
    readonly ttlSeconds?: number;
  };
  readonly webhook?: { readonly url: string; readonly events?: readonly JobEventType[] };
  readonly metadata?: Readonly<Record<string, unknown>>;
  /** `native` unless a compat dialect submits it. */
  readonly dialect?: string;
  readonly dialectData?: Readonly<Record<string, unknown>>;
  /** Extra warnings the dialect wants on the job (parameters it accepted but cannot honour). */
  readonly warnings?: readonly string[];
}

/** Who is asking: the key's id, or null in open mode. */
export interface Caller {
  readonly keyId: string | null;
  /** May manage models (an admin key, or open mode on loopback with no keys at all). */
  readonly admin?: boolean;
}

export interface Estimate {
  readonly model: JobModel;
  readonly input: { readonly width: number; readonly height: number; readonly format: string };
  readonly output: { readonly width: number; readonly height: number; readonly format: OutputFormat };
  readonly cost: number;
  /** Run time alone, s. */
  readonly runSeconds: number;
  /** Including the queue ahead, s. */
  readonly etaSeconds: number;
  readonly warnings: readonly string[];
}

export interface JobServiceOptions {
  readonly jobs: JobStore;
  readonly uploads: UploadStore;
  readonly blobs: BlobStore;
  readonly events: JobEvents;
  readonly models: ModelStore;
  /** Scale-out: fetch a user model another node added before its name is resolved. */
  readonly ensureModel?: (name: string | undefined) => Promise<void>;
  /** Fetches an image URL under the SSRF rules (delivery/fetch-url.ts, bound to config). */
  readonly fetchImage: (url: string, signal?: AbortSignal) => Promise<Buffer>;
  readonly limits: Limits;
  /** PIXELIFT_PRECISION: what a request that names no precision runs in (default auto). */
  readonly precision?: Precision;
  /** Worker processes: the ETA divides the queue ahead among them. */
  readonly workers: number;
  readonly resultTtlSeconds: number;
  readonly maxResultTtlSeconds: number;
  readonly maxQueueDepth: number;
  /** A key's share of the queue: more queued jobs of one key are refused with key_queue_full. */
  readonly maxQueuedPerKey?: number;
  /** Take SVG input (PIXELIFT_ALLOW_SVG); default: refused (jobs/input-format.ts). */
  readonly allowSvg?: boolean;
  /** Whether keys carry credits at all (keys configured); open mode never charges. */
  readonly charge: boolean;
  /** Refuses a webhook or upload URL that can never be delivered to (scheme, forbidden host). */
  readonly checkCallbackUrl: (url: string, param: string) => void;
  /** Where stored jobs go to run, and where cancels go to stop them (jobs/queue.ts). */
  readonly queue: QueuePort;
  /** Logs what the queue could not do (the request itself has succeeded). */
  readonly log?: Logger;
}

const DEFAULT_WEBHOOK_EVENTS: readonly JobEventType[] = ['completed', 'failed', 'canceled'];

export class JobService {
  constructor(private readonly o: JobServiceOptions) {}

  /** Validate, price and size a request without running it or storing anything. */
  async estimate(req: SubmitRequest, caller: Caller, signal?: AbortSignal): Promise<Estimate> {
    checkMetadata(req.metadata);
    const data = await this.inputBytes(req.image, caller, signal);
    return (await this.assess(req, data)).estimate;
  }

  /** Create and queue a job. Same idempotency key + same body → the first job, `replayed`. */
  async submit(
    req: SubmitRequest,
    caller: Caller,
    idempotency?: { readonly key: string; readonly body: unknown },
    signal?: AbortSignal,
  ): Promise<{ job: Job; replayed: boolean }> {
    // First: the fingerprint below walks the body, metadata included.
    checkMetadata(req.metadata);
    const fingerprint = idempotency && fingerprintOf(idempotency.body);
    if (idempotency && fingerprint) {
      // A replay must not fetch the URL again nor fail on a limit that changed since.
      const prior = await this.o.jobs.findIdempotent(caller.keyId, idempotency.key);
      if (prior?.fingerprint === fingerprint) return { job: prior.job, replayed: true };
      if (prior) throw new PixeliftError('idempotency_key_reused', { key: idempotency.key });
    }
    const data = await this.inputBytes(req.image, caller, signal);
    const { estimate, request } = await this.assess(req, data);
    const id = req.id ?? newId('job');
    if (!/^job_[A-Za-z0-9]{1,64}$/.test(id))
      throw invalidArgument('id', 'job_ followed by 1 to 64 letters or digits', id);
    const inputBlob = `inputs/${id}`;
    await this.o.blobs.put(inputBlob, data);
    const now = new Date().toISOString();
    const job: Job = {
      id,
      status: 'queued',
      progress: 0,
      etaSeconds: Math.round(estimate.etaSeconds),
      keyId: caller.keyId,
      request: { ...request, inputBlob },
      model: estimate.model,
      input: estimate.input,
      output: estimate.output,
      cost: estimate.cost,
      refunded: false,
      warnings: estimate.warnings,
      error: null,
      result: null,
      attempts: 0,
      metadata: req.metadata ?? null,
      timings: {},
      createdAt: now,
      startedAt: null,
      finishedAt: null,
      expiresAt: null,
    };
    let created: Created;
    try {
      created = await this.o.jobs.create(job, {
        idempotency: idempotency && fingerprint ? { key: idempotency.key, fingerprint } : undefined,
        charge: this.o.charge && caller.keyId !== null,
        maxQueued: this.o.maxQueueDepth,
        maxQueuedPerKey: this.o.maxQueuedPerKey,
        // The `queued` event and its webhook delivery commit with the job's row.
        webhook: this.o.events.webhook,
      });
    } catch (err) {
      await this.o.blobs.delete(inputBlob);
      throw err;
    }
    if (created.replayed) {
      await this.o.blobs.delete(inputBlob);
      return created;
    }
    await this.o.events.publish(created);
    try {
      await this.o.queue.enqueue(created.job);
    } catch (err) {
      // Accepted all the same: the job is in the store, and the reconciler re-enqueues it.
      this.o.log?.warn({ err, jobId: created.job.id }, 'enqueue failed; the reconciler will retry');
    }
    return created;
  }

  /** The job an idempotency key created for this caller, if any (dialects that look jobs up by their own task ids). */
  async findIdempotent(caller: Caller, key: string): Promise<Job | undefined> {
    return (await this.o.jobs.findIdempotent(caller.keyId, key))?.job;
  }

  /** The caller's job (another key's job is reported as not found, never as forbidden). */
  async get(id: string, caller: Caller | undefined): Promise<Job> {
    const job = await this.o.jobs.get(id);
    if (!job || (caller && caller.keyId !== null && job.keyId !== caller.keyId)) {
      throw new PixeliftError('job_not_found', { id });
    }
    return job;
  }

  /**
   * A queued job's place in the queue: how many queued jobs (all keys) are older, 0 when it is
   * next in line; undefined once it left the queue. Keys take turns, so a job of a key with less
   * queued may start before older ones: a place, not a promise of order.
   */
  queuePosition(job: Job): Promise<number | undefined> {
    return job.status === 'queued' ? this.o.jobs.queuedAhead(job.id) : Promise.resolve(undefined);
  }

  list(caller: Caller, query: Omit<ListJobsQuery, 'keyId'>) {
    // Open mode (null key) sees every job: there is one user, on loopback.
    return this.o.jobs.list({ ...query, keyId: caller.keyId === null ? undefined : caller.keyId });
  }

  /** Cancel a queued or running job: the worker running it is stopped and the charge refunded. */
  async cancel(id: string, caller: Caller): Promise<Job> {
    const job = await this.get(id, caller);
    if (isTerminal(job.status)) throw new PixeliftError('job_not_cancelable', { id, status: job.status });
    const canceled = await this.o.events.transition(
      job,
      {
        patch: {
          status: 'canceled',
          etaSeconds: null,
          finishedAt: new Date().toISOString(),
          expiresAt: new Date(Date.now() + job.request.output.ttlSeconds * 1000).toISOString(),
          error: { code: 'canceled', message: new PixeliftError('canceled').message },
        },
        fence: { status: ['queued', 'running'] },
        refund: true,
      },
      'canceled',
    );
    if (!canceled) return this.cancel(id, caller); // it moved on meanwhile: answer from its new state
    try {
      await this.o.queue.stop(id);
    } catch (err) {
      // The fence still holds: a run that ends now finds the job canceled and discards its result.
      this.o.log?.warn({ err, jobId: id }, 'could not tell the worker to stop the canceled job');
    }
    return canceled;
  }

  /** Cancel if needed, then remove the job, its input and its result. */
  async delete(id: string, caller: Caller): Promise<void> {
    const job = await this.get(id, caller);
    if (!isTerminal(job.status)) await this.cancel(id, caller).catch(() => undefined);
    const gone = (await this.o.jobs.delete(id)) ?? job;
    await this.o.blobs.delete(gone.request.inputBlob);
    if (gone.result) await this.o.blobs.delete(gone.result.blobKey);
  }

  /** Wait until the job ends or `timeoutMs` passes; the job as it is then. */
  async wait(id: string, caller: Caller, timeoutMs: number, signal?: AbortSignal): Promise<Job> {
    const ended = this.o.events.waitFor(
      id,
      (e) => e.type === 'completed' || e.type === 'failed' || e.type === 'canceled',
      timeoutMs,
      signal,
    );
    const now = await this.get(id, caller);
    if (isTerminal(now.status)) return now;
    await ended;
    return this.get(id, caller);
  }

  /** The bytes an image input names: a URL fetched under the SSRF rules, an upload, a result, inline data. */
  async inputBytes(image: ImageInput, caller: Caller, signal?: AbortSignal): Promise<Buffer> {
    switch (image.kind) {
      case 'bytes':
        return image.data;
      case 'url':
        return this.o.fetchImage(image.url, signal).catch((err: unknown) => {
          // The error names the request field it came from.
          if (err instanceof PixeliftError && err.details.param === undefined) {
            throw new PixeliftError(err.code, { ...err.details, param: 'image' }, { cause: err });
          }
          throw err;
        });
      case 'upload': {
        const upload = await this.o.uploads.get(image.id);
        if (!upload || (caller.keyId !== null && upload.keyId !== caller.keyId)) {
          throw new PixeliftError('upload_not_found', { id: image.id, ttl: '24 h' });
        }
        return this.o.blobs.get(upload.blobKey);
      }
      case 'result': {
        const job = await this.o.jobs.get(image.jobId);
        if (!job || (caller.keyId !== null && job.keyId !== caller.keyId)) {
          throw new PixeliftError('image_not_found', { id: image.jobId, reason: 'no such result' });
        }
        if (job.status !== 'succeeded' || !job.result) {
          throw new PixeliftError('image_not_found', {
            id: image.jobId,
            reason: `the job that makes it is ${job.status}`,
          });
        }
        return this.o.blobs.get(job.result.blobKey);
      }
    }
  }

  /** Everything that can be refused is refused here, from the header: limits, model, size, knobs. */
  private async assess(
    req: SubmitRequest,
    data: Buffer,
  ): Promise<{ estimate: Estimate; request: Omit<UpscaleRequest, 'inputBlob'> }> {
    const info = await probe(data, this.o.limits);
    checkInputFormat(info.format, this.o.allowSvg ?? false);
    await this.o.ensureModel?.(req.model);
    const resolved = this.o.models.resolve(req.model);
    const precision = runPrecision(resolved.model, req.precision, this.o.precision ?? DEFAULTS.precision);
    checkKnobs(req);
    if (req.face) checkFaceRequest(this.o.models, req.face);
    const knobs = knobsWithPreset(req, resolved.preset);
    const p = plan(
      {
        ...req,
        input: { width: info.width, height: info.height },
        maxOutputMegapixels: this.o.limits.maxOutputMegapixels,
      },
      resolved.model,
    );
    const ttl = req.output?.ttlSeconds ?? this.o.resultTtlSeconds;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > this.o.maxResultTtlSeconds) {
      throw new PixeliftError('invalid_argument', {
        param: 'output.ttl',
        message: `Expected an integer number of seconds in [1, ${this.o.maxResultTtlSeconds}] for output.ttl but received ${ttl}`,
      });
    }
    if (req.webhook) this.o.checkCallbackUrl(req.webhook.url, 'webhook.url');
    if (req.output?.uploadUrl) this.o.checkCallbackUrl(req.output.uploadUrl, 'output.upload_url');
    const format = req.output?.format ?? 'png';
    const run = runSeconds(resolved.model, p);
    const counts = await this.o.jobs.active();
    const ahead = counts.queued + counts.running;
    const estimate: Estimate = {
      model: { requested: req.model ?? null, used: resolved.model.id, precision },
      input: { width: info.width, height: info.height, format: info.format },
      output: { width: p.output.width, height: p.output.height, format },
      cost: jobCost(resolved.model, p.output.width, p.output.height),
      runSeconds: Math.round(run * 10) / 10,
      // Jobs ahead are assumed to be like this one: the queue holds no better guess.
      etaSeconds: Math.round(run * (1 + ahead / Math.max(1, this.o.workers)) * 10) / 10,
      warnings: [
        ...(info.pages > 1 ? ['The input is animated; only its first frame is upscaled.'] : []),
        ...resolved.warnings,
        ...p.warnings,
        ...(req.warnings ?? []),
      ],
    };
    const request: Omit<UpscaleRequest, 'inputBlob'> = {
      inputSource:
        req.image.kind === 'url'
          ? req.image.url
          : req.image.kind === 'upload'
            ? `upload:${req.image.id}`
            : req.image.kind === 'result'
              ? `result:${req.image.jobId}`
              : 'inline',
      model: req.model,
      ...(req.precision ? { precision: req.precision } : {}),
      scale: req.scale,
      width: req.width,
      height: req.height,
      fit: req.fit,
      oversize: req.oversize,
      maxOutputSide: req.maxOutputSide,
      ...knobs,
      ...(req.face ? { face: req.face } : {}),
      output: {
        format,
        quality: req.output?.quality,
        keepMetadata: req.output?.keepMetadata,
        type: req.output?.type ?? 'url',
        uploadUrl: req.output?.uploadUrl,
        ttlSeconds: ttl,
      },
      webhook: req.webhook && { url: req.webhook.url, events: req.webhook.events ?? DEFAULT_WEBHOOK_EVENTS },
      dialect: req.dialect ?? 'native',
      dialectData: req.dialectData,
    };
    return { estimate, request };
  }
}

/** `job_` + 20 base32-ish characters: sortable by nothing, guessable by no one. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(15).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** Canonical JSON (keys sorted) hashed: the same body in another key order is the same request. */
export function fingerprintOf(body: unknown): string {
  return createHash('sha256').update(canonical(body)).digest('hex');
}

function canonical(v: unknown): string {
  if (Buffer.isBuffer(v)) return JSON.stringify(createHash('sha256').update(v).digest('hex'));
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

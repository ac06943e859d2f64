/**
 * Runs queued jobs on the worker pool (DESIGN §1): claims the oldest runnable job (FIFO, a
 * per-key cap on running jobs), hands its stored input to a worker, stores the result, and
 * records every step as an event. A claim is fenced by the attempt number, so a stale attempt
 * (a job canceled, or re-run after a crash) never overwrites a newer state.
 *
 * - Crash: on start, jobs left `running` by a killed server go back to the queue (attempts
 *   capped by maxAttempts, then failed with attempts_exhausted).
 * - A run that fails with an error the registry marks retryable (a worker that died mid-job,
 *   worker_crashed; inference_failed; upload_failed; …) puts the job back the same way; one that
 *   is not retryable fails the job at once.
 * - stop(grace): claims nothing more, lets running jobs finish within `grace`, then stops the
 *   rest and re-queues them without counting the attempt.
 */
import type { Limits } from '../config.js';
import type { OutputFormat } from '../engine/encode.js';
import type { UpscaleOptions, UpscaleResult } from '../engine/pipeline.js';
import { ERRORS, isPixeliftError, PixeliftError } from '../errors.js';
import { type Logger, withFields } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import type { PoolHooks, PoolJob } from '../workers/pool.js';
import type { JobEvents } from './events.js';
import type { JobPatch, JobStore, Recorded } from './store.js';
import type { Job, JobError } from './types.js';

export const CONTENT_TYPES: Readonly<Record<OutputFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
  tiff: 'image/tiff',
};

export interface JobRunnerOptions {
  readonly jobs: JobStore;
  readonly blobs: BlobStore;
  readonly events: JobEvents;
  readonly pool: { run(job: PoolJob, hooks?: PoolHooks): Promise<UpscaleResult> };
  /** Jobs run at once (the pool's size: more would only queue inside the pool). */
  readonly concurrency: number;
  readonly maxRunningPerKey: number;
  readonly maxAttempts: number;
  readonly limits: Limits;
  readonly tile: number | undefined;
  /** PUTs a result to the job's output.uploadUrl (SSRF rules apply). */
  readonly putResult: (url: string, data: Buffer, contentType: string) => Promise<void>;
  readonly log: Logger;
  /**
   * Scale-out: fetch a user model added on another node into this node's models directory
   * before the pool runs the job (the pool's processes then convert and cache it).
   */
  readonly ensureModel?: (name: string) => Promise<void>;
  /** A safety net under kick(): how often the queue is looked at anyway, ms. */
  readonly pollMs?: number;
}

/** Progress is stored and published at most this often, ms, or per this much progress. */
const PROGRESS_INTERVAL_MS = 500;
const PROGRESS_STEP = 0.1;

interface Running {
  readonly job: Job;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

type StopReason = 'canceled' | 'shutdown';

export class JobRunner {
  private readonly running = new Map<string, Running>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private pumping = false;
  private again = false;

  constructor(private readonly o: JobRunnerOptions) {}

  /** Recover what a crash left running, then start taking jobs. */
  async start(): Promise<void> {
    // A job given up fails, is refunded and gets its `failed` event and webhook in one transaction.
    const { requeued, failed } = await this.o.jobs.recover({
      maxAttempts: this.o.maxAttempts,
      now: new Date(),
      webhook: this.o.events.webhook,
    });
    for (const job of requeued)
      this.o.log.warn({ jobId: job.id, attempts: job.attempts }, 'job re-queued after a crash');
    for (const given of failed) {
      const { job } = given;
      this.o.log.error({ jobId: job.id, attempts: job.attempts }, 'job given up after repeated crashes');
      await this.o.events.publish(given);
    }
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  /** Look at the queue now (a job was submitted, or one ended). */
  kick(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((err: unknown) => this.o.log.error({ err }, 'the job runner failed to claim a job'))
      .finally(() => {
        this.pumping = false;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /** Stop a job running here (it was canceled); the pool kills its worker. */
  cancel(jobId: string): void {
    this.running.get(jobId)?.controller.abort('canceled' satisfies StopReason);
  }

  get active(): number {
    return this.running.size;
  }

  /** Whether a job is running in this process. */
  isRunning(jobId: string): boolean {
    return this.running.has(jobId);
  }

  /** Take no more jobs; wait up to `graceMs` for running ones, then stop and re-queue the rest. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    const all = () => Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), graceMs);
    });
    const outcome = await Promise.race([all().then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      for (const r of this.running.values()) r.controller.abort('shutdown' satisfies StopReason);
      await all();
    }
  }

  /**
   * Run a job already claimed (running, with its attempt; its `started` event recorded by the
   * claim, and published here once the run can be canceled) on the pool. Resolves when it ended,
   * or was handed back to the queue (worker crash, shutdown); the store says which. The embedded
   * queue calls it from pump(); in scale-out the BullMQ worker does (bullmq/worker.ts).
   */
  run(claimed: Recorded): Promise<void> {
    const { job } = claimed;
    const controller = new AbortController();
    const done = this.execute(claimed, controller).finally(() => this.running.delete(job.id));
    this.running.set(job.id, { job, controller, done });
    return done;
  }

  private async pump(): Promise<void> {
    while (!this.stopping && this.running.size < this.o.concurrency) {
      // The `started` event and its webhook delivery commit with the claim.
      const claimed = await this.o.jobs.claim({
        maxRunningPerKey: this.o.maxRunningPerKey,
        now: new Date(),
        webhook: this.o.events.webhook,
      });
      if (!claimed) return;
      const { job } = claimed;
      // A run that cannot even record its outcome (the store went away mid-shutdown) is logged;
      // the job stays running in the store, which hands it back on the next start (recoverRunning).
      void this.run(claimed)
        .catch((err: unknown) =>
          this.o.log.error({ err, jobId: job.id }, 'could not record the outcome of a job'),
        )
        .finally(() => this.kick());
    }
  }

  private async execute(claimed: Recorded, controller: AbortController): Promise<void> {
    const { job } = claimed;
    const log = withFields(this.o.log, { jobId: job.id, attempt: job.attempts });
    const fence = { status: 'running' as const, attempts: job.attempts };
    const startedAt = Date.now();
    log.info({ model: job.model.used }, 'job started');
    await this.o.events.publish(claimed);
    try {
      const input = await this.o.blobs.get(job.request.inputBlob);
      await this.o.ensureModel?.(job.model.used);
      const result = await this.o.pool.run(
        { input, options: this.optionsOf(job) },
        {
          signal: controller.signal,
          onProgress: this.progressReporter(job, startedAt),
          onNotice: (notice) => this.notice(job, notice, log),
        },
      );
      await this.succeed(job, result, startedAt, fence, log);
    } catch (err) {
      await this.fail(job, err, controller.signal, fence, log);
    }
  }

  private optionsOf(job: Job): UpscaleOptions {
    const r = job.request;
    return {
      model: job.model.used,
      // An int8 job passes on what was asked (auto, or unset: the worker's PIXELIFT_PRECISION), so
      // that `auto` runs fp32 rather than wait while a missing int8 file is quantized.
      precision: job.model.precision === 'int8' ? job.request.precision : 'fp32',
      scale: r.scale,
      width: r.width,
      height: r.height,
      fit: r.fit,
      oversize: r.oversize,
      maxOutputSide: r.maxOutputSide,
      denoise: r.denoise,
      fix_compression: r.fix_compression,
      sharpen: r.sharpen,
      face: r.face,
      format: r.output.format,
      quality: r.output.quality,
      keepMetadata: r.output.keepMetadata,
      limits: this.o.limits,
      tile: this.o.tile,
    };
  }

  /** A notice from the run (an int8 file quantized first): logged, and added to the job's warnings while it runs. */
  private notice(job: Job, notice: string, log: Logger): void {
    log.info({ notice }, notice);
    void this.o.events
      .transition(
        job,
        {
          patch: { warnings: [...job.warnings, notice] },
          fence: { status: 'running', attempts: job.attempts },
        },
        'progress',
        { progress: 0, etaSeconds: job.etaSeconds, notice },
      )
      .catch((err: unknown) => log.warn({ err }, 'could not record a notice'));
  }

  /** Progress from the worker, thinned out: stored and published every 0.5 s or 10 %. */
  private progressReporter(job: Job, startedAt: number): (fraction: number) => void {
    let lastAt = 0;
    let lastValue = 0;
    let writing = false;
    return (fraction) => {
      const now = Date.now();
      if (
        writing ||
        fraction >= 1 ||
        (now - lastAt < PROGRESS_INTERVAL_MS && fraction - lastValue < PROGRESS_STEP)
      ) {
        return;
      }
      lastAt = now;
      lastValue = fraction;
      const elapsed = (now - startedAt) / 1000;
      const etaSeconds =
        fraction > 0 ? Math.round((elapsed / fraction) * (1 - fraction) * 10) / 10 : job.etaSeconds;
      const progress = Math.round(fraction * 1000) / 1000;
      writing = true;
      void this.o.events
        .transition(
          job,
          { patch: { progress, etaSeconds }, fence: { status: 'running', attempts: job.attempts } },
          'progress',
          { progress, etaSeconds },
        )
        .catch((err: unknown) => this.o.log.warn({ err, jobId: job.id }, 'could not record progress'))
        .finally(() => {
          writing = false;
        });
    };
  }

  private async succeed(
    job: Job,
    result: UpscaleResult,
    startedAt: number,
    fence: { status: 'running'; attempts: number },
    log: Logger,
  ): Promise<void> {
    const { info } = result;
    const contentType = CONTENT_TYPES[info.output.format];
    const blobKey = `results/${job.id}.${info.output.format === 'jpeg' ? 'jpg' : info.output.format}`;
    await this.o.blobs.put(blobKey, result.data, contentType);
    const warnings = [...new Set([...job.warnings, ...info.warnings])];
    if (job.request.output.uploadUrl) {
      await this.o.putResult(job.request.output.uploadUrl, result.data, contentType);
    }
    const finished = new Date();
    const patch: JobPatch = {
      status: 'succeeded',
      progress: 1,
      etaSeconds: null,
      output: {
        width: info.output.width,
        height: info.output.height,
        format: info.output.format,
        bytes: info.output.bytes,
      },
      result: {
        fileId: job.id,
        blobKey,
        contentType,
        bytes: result.data.length,
        width: info.output.width,
        height: info.output.height,
        format: info.output.format,
        ...(info.faces ? { faces: info.faces } : {}),
      },
      warnings,
      // `auto` runs fp32 while the int8 file is not prepared: the job says what really ran.
      ...(info.precision === job.model.precision
        ? {}
        : { model: { ...job.model, precision: info.precision } }),
      timings: {
        queueMs: Date.parse(job.startedAt ?? job.createdAt) - Date.parse(job.createdAt),
        decodeMs: Math.round(info.timings.decodeMs),
        inferMs: Math.round(info.timings.inferMs),
        encodeMs: Math.round(info.timings.encodeMs),
        runMs: finished.getTime() - startedAt,
      },
      finishedAt: finished.toISOString(),
      expiresAt: new Date(finished.getTime() + job.request.output.ttlSeconds * 1000).toISOString(),
    };
    // The completed event and its webhook commit with the status, or none of them does.
    const done = await this.o.events.transition(job, { patch, fence }, 'completed');
    if (!done) {
      // Canceled (or deleted) while it ran: the result belongs to nobody.
      await this.o.blobs.delete(blobKey);
      log.info('job finished after it was canceled; result discarded');
      return;
    }
    log.info(
      { ms: finished.getTime() - startedAt, output: `${info.output.width}x${info.output.height}` },
      'job succeeded',
    );
  }

  private async fail(
    job: Job,
    err: unknown,
    signal: AbortSignal,
    fence: { status: 'running'; attempts: number },
    log: Logger,
  ): Promise<void> {
    const reason = signal.aborted ? (signal.reason as StopReason) : undefined;
    if (reason === 'canceled') return; // JobService.cancel recorded it
    if (reason === 'shutdown') {
      const back = await this.o.jobs.requeue(job.id, { attempts: job.attempts });
      log.info({ requeued: Boolean(back) }, 'job stopped by shutdown and re-queued');
      return;
    }
    // One rule, the registry's: an error that may not recur (retryable) runs the job again while
    // attempts are left. Out of attempts the job fails with that error, except a crash, which reads
    // as the store's own give-up after crashes (recover, claimById): attempts_exhausted.
    if (isRetryable(err)) {
      if (job.attempts < this.o.maxAttempts) {
        const back = await this.o.jobs.update(
          job.id,
          { status: 'queued', progress: 0, startedAt: null },
          fence,
        );
        log.warn(
          { code: toJobError(err).code, err: (err as Error).message, requeued: Boolean(back) },
          'job failed with a retryable error; re-queued',
        );
        return;
      }
      if (isPixeliftError(err, 'worker_crashed')) {
        err = new PixeliftError('attempts_exhausted', { attempts: job.attempts }, { cause: err });
      }
    }
    const error = toJobError(err);
    if (error.code === 'internal') log.error({ err }, 'job failed');
    else log.warn({ code: error.code, message: error.message }, 'job failed');
    const finished = new Date();
    await this.o.events.transition(
      job,
      {
        patch: {
          status: 'failed',
          etaSeconds: null,
          error,
          finishedAt: finished.toISOString(),
          expiresAt: new Date(finished.getTime() + job.request.output.ttlSeconds * 1000).toISOString(),
        },
        fence,
        refund: true,
      },
      'failed',
    );
  }
}

/** Whether the registry says the error may not recur: anything not a PixeliftError counts as `internal`. */
function isRetryable(err: unknown): boolean {
  return isPixeliftError(err) ? err.retryable : ERRORS.internal.retryable;
}

export function toJobError(err: unknown): JobError {
  if (isPixeliftError(err)) return err.toJSON();
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'internal', message: new PixeliftError('internal', { message }).message };
}

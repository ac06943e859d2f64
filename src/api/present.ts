/**
 * The native dialect's view of a Job: snake_case JSON, a signed link to the result (valid as
 * long as the result is kept), and the bytes inline when the job asked for base64/data URI.
 */
import type { Job, JobEvent } from '../jobs/types.js';

export interface Presenter {
  /** A signed URL of the file, valid until `expiresAt`. */
  readonly fileUrl: (fileId: string, expiresAt: Date) => string;
}

export function presentJob(
  job: Job,
  presenter: Presenter,
  extra: { readonly inline?: Buffer; readonly replayed?: boolean } = {},
): Record<string, unknown> {
  const r = job.result;
  const expiresAt = job.expiresAt ?? new Date(Date.now() + 3600_000).toISOString();
  const result = r && {
    url: presenter.fileUrl(r.fileId, new Date(expiresAt)),
    content_type: r.contentType,
    bytes: r.bytes,
    width: r.width,
    height: r.height,
    format: r.format,
    ...(r.faces ? { faces: r.faces } : {}),
    expires_at: job.expiresAt,
    ...(extra.inline && job.request.output.type === 'base64'
      ? { base64: extra.inline.toString('base64') }
      : {}),
    ...(extra.inline && job.request.output.type === 'data_uri'
      ? { data_uri: `data:${r.contentType};base64,${extra.inline.toString('base64')}` }
      : {}),
  };
  return {
    id: job.id,
    object: 'job',
    status: job.status,
    progress: job.progress,
    eta_seconds: job.etaSeconds,
    model: job.model,
    input: job.input,
    output: job.output,
    cost: job.cost,
    ...(job.refunded ? { refunded: true } : {}),
    warnings: job.warnings,
    error: job.error,
    result,
    attempts: job.attempts,
    metadata: job.metadata,
    timings: {
      queue_ms: job.timings.queueMs,
      decode_ms: job.timings.decodeMs,
      infer_ms: job.timings.inferMs,
      encode_ms: job.timings.encodeMs,
      run_ms: job.timings.runMs,
    },
    output_type: job.request.output.type,
    webhook: job.request.webhook ?? null,
    created_at: job.createdAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    expires_at: job.expiresAt,
    ...(extra.replayed ? { replayed: true } : {}),
  };
}

/**
 * What an event carries to a client, in SSE `data:` and in webhook bodies alike: the job as it
 * was at the event, or for `progress` just the progress and ETA.
 */
export function presentEvent(event: JobEvent, presenter: Presenter): Record<string, unknown> {
  if (event.type === 'progress') {
    return {
      id: event.jobId,
      object: 'job',
      status: 'running',
      progress: event.data.progress,
      eta_seconds: event.data.etaSeconds ?? null,
    };
  }
  return presentJob(event.data as unknown as Job, presenter);
}

/**
 * What the five dialects share: the Topaz parameter table (four of the five sell Topaz, with the
 * same knobs under different spellings), id translation between provider-shaped ids and job ids,
 * the result's link and bytes, and the "accepted but not honoured" warnings. Translation only:
 * everything below this folder sees a SubmitRequest and a Job.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OutputFormat } from '../../engine/encode.js';
import type { FaceOptions } from '../../engine/faces/pass.js';
import { isPixeliftError, PixeliftError } from '../../errors.js';
import type { Job } from '../../jobs/types.js';
import { findAlias } from '../../models/aliases.js';
import type { ApiDeps } from '../deps.js';
import { toPixeliftError } from '../errors.js';

/** A dialect's error body and status for a Pixelift error. */
export type ErrorPresenter = (
  err: PixeliftError,
  request: FastifyRequest,
) => { status: number; body: unknown; headers?: Record<string, string> };

/**
 * Mount a dialect: its routes under `prefix`, its own error shape for everything that fails
 * there (auth, rate limit, validation, unknown route), inside the API's rate-limited scope.
 */
export async function mountDialect(
  api: FastifyInstance,
  prefix: string,
  present: ErrorPresenter,
  routes: (app: FastifyInstance) => void,
): Promise<void> {
  await api.register(
    async (app) => {
      const send = (request: FastifyRequest, reply: FastifyReply, raw: Error) => {
        const err = toPixeliftError(raw, request);
        if (err.code === 'internal') request.log.error({ err: raw }, 'request failed');
        const { status, body, headers } = present(err, request);
        const retryAfter = err.details.retryAfter;
        if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
        for (const [k, v] of Object.entries(headers ?? {})) reply.header(k, v);
        return reply.code(status).type('application/json').send(body);
      };
      app.setErrorHandler((err, request, reply) => send(request, reply, err as Error));
      app.setNotFoundHandler((request, reply) =>
        send(
          request,
          reply,
          new PixeliftError('route_not_found', { method: request.method, url: request.url.split('?')[0] }),
        ),
      );
      routes(app);
    },
    { prefix },
  );
}

// --- ids -------------------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** A job id that carries a UUID (providers that hand out UUIDs: Apiframe, Runware). */
export function newUuidJobId(): { uuid: string; jobId: string } {
  const uuid = randomUUID();
  return { uuid, jobId: jobIdOfUuid(uuid) };
}

export function jobIdOfUuid(uuid: string): string {
  return `job_${uuid.toLowerCase().replace(/-/g, '')}`;
}

/** The UUID a job id carries, or undefined for a job created otherwise. */
export function uuidOfJobId(jobId: string): string | undefined {
  const m = /^job_([0-9a-f]{8})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{4})([0-9a-f]{12})$/.exec(jobId);
  return m ? m.slice(1).join('-') : undefined;
}

// --- results ---------------------------------------------------------------------------------

/** The signed link to a finished job's file, valid as long as the result is kept (HTTP routes and webhooks alike). */
export function resultUrl(job: Job, deps: Pick<ApiDeps, 'presenter'>): string | null {
  if (!job.result) return null;
  const expiresAt = job.expiresAt ?? new Date(Date.now() + 3600_000).toISOString();
  return deps.presenter.fileUrl(job.result.fileId, new Date(expiresAt));
}

export async function resultBytes(job: Job, deps: Pick<ApiDeps, 'blobs'>): Promise<Buffer | null> {
  return job.result ? deps.blobs.get(job.result.blobKey) : null;
}

/** ms from creation to the end (or to now while it runs). */
export function durationMs(job: Job): number | null {
  if (!job.startedAt && !job.finishedAt) return null;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : Date.now();
  return Math.max(0, end - Date.parse(job.createdAt));
}

// --- the Topaz parameters --------------------------------------------------------------------

/** Topaz's enhancement models, as all four Topaz resellers spell them. */
export const TOPAZ_MODELS = [
  'Low Resolution V2',
  'Standard V2',
  'CGI',
  'High Fidelity V2',
  'Text Refine',
  'Recovery',
  'Redefine',
  'Recovery V2',
  'Standard MAX',
  'Wonder',
] as const;
/** The five non-generative ones (Oxen, Scenario, Apiframe list only these). */
export const TOPAZ_ENHANCE_MODELS = TOPAZ_MODELS.slice(0, 5);

/** Topaz's knobs, in one spelling; each dialect maps its own names onto these. */
export interface TopazParams {
  readonly model?: string;
  readonly faceEnhancement?: boolean;
  readonly faceEnhancementStrength?: number;
  readonly faceEnhancementCreativity?: number;
  readonly subjectDetection?: string;
  readonly sharpen?: number;
  readonly denoise?: number;
  readonly fixCompression?: number;
  readonly detail?: number;
  readonly strength?: number;
  readonly creativity?: number;
  readonly texture?: number;
  readonly prompt?: string;
  readonly autoprompt?: boolean;
  readonly cropToFill?: boolean;
}

/**
 * Topaz parameters → Pixelift's knobs and warnings. What maps is applied (sharpen, denoise,
 * compression repair, face enhancement); what Pixelift has no model for (subject detection,
 * generative prompt/creativity/texture) is accepted, recorded as a warning on the job, and
 * never silently dropped. `names` gives the dialect's own spelling of each field for messages.
 */
export function topazToKnobs(
  p: TopazParams,
  names: Partial<Record<keyof TopazParams, string>> = {},
): { denoise?: number; sharpen?: number; fix_compression?: number; face?: FaceOptions; warnings: string[] } {
  const n = (k: keyof TopazParams) => names[k] ?? k;
  const warnings: string[] = [];
  // Honoured by the face pass (src/engine/faces): strength and creativity map one to one; with
  // no face model installed the job's own warning says what was done instead.
  const face: FaceOptions | undefined = p.faceEnhancement
    ? {
        enabled: true,
        ...(p.faceEnhancementStrength !== undefined ? { strength: p.faceEnhancementStrength } : {}),
        ...(p.faceEnhancementCreativity !== undefined ? { creativity: p.faceEnhancementCreativity } : {}),
      }
    : undefined;
  if (p.subjectDetection !== undefined && !['All', 'None'].includes(p.subjectDetection)) {
    warnings.push(
      `${n('subjectDetection')} "${p.subjectDetection}" is not available in Pixelift; the whole image is enhanced.`,
    );
  }
  if (p.detail !== undefined) {
    warnings.push(
      `${n('detail')} (Recovery V2 detail control) has no equivalent in Pixelift and is ignored.`,
    );
  }
  const generative = (['prompt', 'autoprompt', 'creativity', 'texture'] as const).filter(
    (k) => p[k] !== undefined && p[k] !== false && p[k] !== '',
  );
  if (generative.length > 0 && !findAlias(p.model ?? '')?.warning) {
    // The generative aliases (Redefine, Wonder) already warn that these are ignored.
    warnings.push(
      `${generative.map(n).join(', ')} only steer generative upscaling, which Pixelift does not do; ignored.`,
    );
  }
  if (p.cropToFill) {
    warnings.push(
      `${n('cropToFill')} only matters when an output width and height are both given; with a scale factor the aspect ratio is kept and nothing is cropped.`,
    );
  }
  let sharpen = p.sharpen;
  if (p.strength !== undefined) {
    // Text Refine's "enhancement strength" is the closest to Pixelift's post-sharpen.
    sharpen = sharpen ?? p.strength;
    warnings.push(`${n('strength')} is applied as Pixelift's sharpen (${p.strength}).`);
  }
  return {
    ...(p.denoise !== undefined ? { denoise: p.denoise } : {}),
    ...(sharpen !== undefined ? { sharpen } : {}),
    ...(p.fixCompression !== undefined ? { fix_compression: p.fixCompression } : {}),
    ...(face ? { face } : {}),
    warnings,
  };
}

/** `jpg`/`jpeg`/`JPG` → jpeg, `PNG` → png, `WEBP` → webp. */
export function formatOf(value: string | undefined): OutputFormat | undefined {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  return v === 'jpg' ? 'jpeg' : (v as OutputFormat);
}

/** `2x` → 2. */
export function factorOf(value: string): number {
  return Number(value.replace(/x$/i, ''));
}

/** Errors worth telling apart in every dialect's own vocabulary. */
export function kindOf(
  err: PixeliftError,
): 'auth' | 'credits' | 'rate' | 'unavailable' | 'not_found' | 'validation' | 'conflict' | 'internal' {
  if (err.code === 'unauthorized') return 'auth';
  if (err.code === 'insufficient_credits') return 'credits';
  if (err.code === 'rate_limited' || err.code === 'key_queue_full') return 'rate';
  if (err.status === 503) return 'unavailable';
  if (err.status === 404 && err.code !== 'model_not_found') return 'not_found';
  if (err.status === 409) return 'conflict';
  if (err.status >= 500 && err.code !== 'url_fetch_failed' && err.code !== 'url_timeout') return 'internal';
  return 'validation';
}

/** The field an error is about, in the dialect's spelling (`param` maps native names to theirs). */
export function paramOf(
  err: PixeliftError,
  fields: Readonly<Record<string, string>> = {},
): string | undefined {
  const p = err.details.param;
  if (typeof p !== 'string') return undefined;
  return fields[p] ?? p;
}

export function isValidation(err: unknown): boolean {
  return isPixeliftError(err, 'invalid_argument');
}

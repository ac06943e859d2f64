/**
 * The compatibility dialects (DESIGN §5): each provider's API under `/compat/<provider>`, paths
 * below the prefix exactly as in the provider's docs, so that a client changes only its base URL.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { type DialectDocument, DialectDocuments } from '../openapi.js';
import { apiframe } from './apiframe.js';
import type { Dialect } from './dialect.js';
import { fal } from './fal.js';
import { oxen } from './oxen.js';
import { replicate } from './replicate.js';
import { runflow } from './runflow.js';
import { runware } from './runware.js';
import { scenario } from './scenario.js';

export const DIALECTS: readonly Dialect[] = [runflow, apiframe, oxen, scenario, runware, replicate, fal];

/** What each dialect's OpenAPI document (`/compat/<name>/openapi.json`) says it is. */
export const DIALECT_DOCUMENTS: Readonly<Record<string, Omit<DialectDocument, 'name'>>> = {
  runflow: {
    title: 'Runflow-compatible API (Topaz Upscale - Image) on Pixelift',
    description:
      'Runflow runs of `topaz/upscale/image`, answered by Pixelift. Errors: `{code, message, errors[]}`.',
  },
  apiframe: {
    title: 'Apiframe-compatible API (Image Upscale) on Pixelift',
    description:
      'Apiframe /v2 upscale jobs, answered by Pixelift. Errors: `{error, message, code, details[]}`.',
  },
  oxen: {
    title: 'Oxen.ai-compatible API (topazlabs-image-upscale) on Pixelift',
    description:
      'Oxen.ai image edits, the generation queue and its server-sent events, answered by Pixelift. Errors: `{status: "error", status_message, status_description}`.',
  },
  scenario: {
    title: 'Scenario-compatible API (model_topaz-image-upscale) on Pixelift',
    description:
      'Scenario assets and Topaz upscale jobs, answered by Pixelift. Errors: `{error, reason, param?}`.',
  },
  runware: {
    title: 'Runware-compatible API (Upscale) on Pixelift',
    description:
      'Runware task arrays over HTTP, answered by Pixelift (the same tasks over WebSocket at `GET /v1`, which OpenAPI does not describe). Errors: `{errors: [{code, message, parameter, taskType, taskUUID}]}`.',
  },
  replicate: {
    title: 'Replicate-compatible API on Pixelift',
    description:
      'Replicate predictions, models, files and the default webhook secret, answered by Pixelift. Errors: problem details `{title, detail, status}`.',
  },
  fal: {
    title: 'fal-compatible API (the fal client proxy) on Pixelift',
    description:
      "fal's server proxy: `@fal-ai/client` with `proxyUrl` set sends each call here with the real target in `x-fal-target-url` (fal's queue and run hosts only).",
  },
};

export async function mountCompat(api: FastifyInstance, deps: ApiDeps): Promise<void> {
  // Collects the routes the dialects register, for their documents.
  const documents = new DialectDocuments(api);
  for (const dialect of DIALECTS) await dialect.mount(api, deps);
  for (const dialect of DIALECTS) {
    const doc = DIALECT_DOCUMENTS[dialect.name];
    if (!doc) throw new Error(`dialect ${dialect.name} has no OpenAPI document description`);
    api.get(`/compat/${dialect.name}/openapi.json`, { schema: { hide: true } }, async () =>
      documents.document({ name: dialect.name, ...doc }),
    );
  }
}

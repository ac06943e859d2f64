/**
 * The compatibility dialects (DESIGN §5): each provider's API under `/compat/<provider>`, paths
 * below the prefix exactly as in the provider's docs, so that a client changes only its base URL.
 */
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps.js';
import { apiframe } from './apiframe.js';
import type { Dialect } from './dialect.js';
import { fal } from './fal.js';
import { oxen } from './oxen.js';
import { replicate } from './replicate.js';
import { runflow } from './runflow.js';
import { runware } from './runware.js';
import { scenario } from './scenario.js';

export const DIALECTS: readonly Dialect[] = [runflow, apiframe, oxen, scenario, runware, replicate, fal];

export async function mountCompat(api: FastifyInstance, deps: ApiDeps): Promise<void> {
  for (const dialect of DIALECTS) await dialect.mount(api, deps);
}

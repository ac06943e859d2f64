/** GET /v1/models, /healthz, /readyz, /metrics. */
import type { FastifyInstance } from 'fastify';
import { CREDITS_PER_MEGAPIXEL } from '../../jobs/cost.js';
import { MODEL_ALIASES } from '../../models/aliases.js';
import { autoPrecision, hasInt8 } from '../../models/precision.js';
import type { Uses } from '../deps.js';
import { errorResponses, modelListSchema } from '../schemas.js';

const readiness = {
  type: 'object',
  required: ['status', 'checks', 'shutting_down'],
  properties: {
    status: { type: 'string', enum: ['ready', 'not_ready'] },
    checks: { type: 'object', additionalProperties: { type: 'boolean' } },
    errors: { type: 'object', additionalProperties: { type: 'string' } },
    shutting_down: { type: 'boolean' },
  },
} as const;

/** What these routes use of the API's dependencies. */
export type MetaRouteDeps = Uses<{
  models: 'store';
  lifecycle: 'ready' | 'shuttingDown';
  telemetry: 'metrics';
  settings: 'memoryBudget';
}>;

export function metaRoutes(app: FastifyInstance, deps: MetaRouteDeps): void {
  app.get(
    '/v1/models',
    {
      schema: {
        summary: 'Installed models and provider aliases',
        operationId: 'listModels',
        tags: ['models'],
        response: { 200: modelListSchema, ...errorResponses },
      },
    },
    async () => {
      const models = deps.models.store.list();
      const defaultId = deps.models.store.resolve().model.id;
      return {
        object: 'list',
        // Working memory each worker gives one image's inference (PIXELIFT_MEMORY_BUDGET).
        memory_budget_bytes: deps.settings.memoryBudget ?? null,
        data: models.map((m) => ({
          id: m.id,
          object: 'model',
          name: m.name,
          kind: m.kind,
          purpose: m.purpose,
          scales: m.scales,
          default: m.id === defaultId,
          // Whether `precision: int8` works, and what `precision: auto` runs it in.
          precision: { int8: hasInt8(m), auto: autoPrecision(m) },
          input_kpx_per_second: m.kpxPerSecond ?? null,
          credits_per_megapixel: CREDITS_PER_MEGAPIXEL[m.kind],
          license: m.license,
          origin: m.origin,
          architecture: m.architecture ?? null,
          aliases: MODEL_ALIASES.filter((a) => a.model === m.id).map((a) => ({
            name: a.name,
            provider: a.provider,
            ...(a.warning ? { warning: a.warning } : {}),
          })),
        })),
      };
    },
  );

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        operationId: 'getHealth',
        tags: ['health'],
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['status'],
            properties: { status: { type: 'string', enum: ['ok'] } },
          },
          ...errorResponses,
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: store, blobs and workers answer',
        operationId: 'getReadiness',
        tags: ['health'],
        security: [],
        response: { 200: readiness, 503: readiness, ...errorResponses },
      },
    },
    async (_req, reply) => {
      const problems = await deps.lifecycle.ready();
      const checks = Object.fromEntries(Object.entries(problems).map(([k, v]) => [k, v === undefined]));
      const errors = Object.fromEntries(Object.entries(problems).filter(([, v]) => v !== undefined));
      const ok = !deps.lifecycle.shuttingDown() && Object.keys(errors).length === 0;
      return reply.code(ok ? 200 : 503).send({
        status: ok ? 'ready' : 'not_ready',
        checks,
        // Which check failed and why, so that an operator need not guess from a bare 503.
        ...(ok ? {} : { errors }),
        shutting_down: deps.lifecycle.shuttingDown(),
      });
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        operationId: 'getMetrics',
        tags: ['health'],
        security: [],
        response: {
          200: {
            description: 'Prometheus text exposition format',
            content: { 'text/plain': { schema: { type: 'string' } } },
          },
          ...errorResponses,
        },
      },
    },
    async (_req, reply) => {
      return reply.type(deps.telemetry.metrics.contentType).send(await deps.telemetry.metrics.text());
    },
  );
}

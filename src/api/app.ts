/**
 * The Fastify app factory (inject-testable, no port): plugins, auth, rate limits, one error
 * envelope, request ids, metrics, OpenAPI generated from the route schemas, and the native
 * /v1 routes. server/boot.ts builds the dependencies and listens.
 */
import { randomBytes } from 'node:crypto';
import multipart from '@fastify/multipart';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import Fastify, { type FastifyInstance } from 'fastify';
import { PixeliftError } from '../errors.js';
import { authenticate } from './auth.js';
import { mountCompat } from './compat/index.js';
import type { ApiDeps } from './deps.js';
import { sendError } from './errors.js';
import { MULTIPART_LIMITS } from './multipart.js';
import { nativeSwaggerOptions } from './openapi.js';
import { MemoryRateStore, rateLimitHook } from './rate-limit.js';
import { eventRoutes } from './routes/events.js';
import { fileRoutes } from './routes/files.js';
import { jobRoutes } from './routes/jobs.js';
import { metaRoutes } from './routes/meta.js';
import { modelRoutes } from './routes/models.js';
import { PLAYGROUND_PREFIX, playgroundRoutes, WEB_DIR } from './routes/playground.js';
import { uploadRoutes } from './routes/uploads.js';
import { upscaleRoutes } from './routes/upscale.js';
import { RAW_BODY_MEDIA_TYPES } from './schemas.js';

/**
 * Routes open to anyone: probes, metrics, docs, signed file links (the signature is the key),
 * and the playground page with its assets (its /v1 calls carry the key the user gives it).
 */
const PUBLIC = [
  /^\/$/,
  new RegExp(`^${PLAYGROUND_PREFIX}`),
  /^\/healthz$/,
  /^\/readyz$/,
  /^\/metrics$/,
  /^\/openapi\.json$/,
  /^\/compat\/[\w-]+\/openapi\.json$/,
  /^\/docs(\/|$)/,
  /^\/v1\/files\//,
];

/**
 * WebSocket upgrades to protocols that authenticate inside the socket (Runware's SDK sends no key
 * header; its first frame carries the key): the handshake is open, the socket is not.
 */
const SOCKET_AUTH = [/^\/compat\/runware\/v1\/?$/];

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.telemetry.logger ? { loggerInstance: deps.telemetry.logger } : {}),
    bodyLimit: deps.settings.bodyLimit,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given)
        ? given
        : `req_${randomBytes(9).toString('base64url')}`;
    },
    // ajv: no type coercion, so "scale": "4" is an error that names the field, not a silent fix.
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: true, allErrors: false },
    },
    routerOptions: { ignoreTrailingSlash: true },
  });

  // Bodies are checked without type coercion, so "scale": "4" is an error that names the field
  // rather than a silent fix; query strings and path parameters are text and are coerced.
  const strict = new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false });
  const lenient = new Ajv({
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  // Multipart and raw image bodies are read by their handlers (which check them); their body
  // schemas only describe them in /openapi.json.
  const unchecked = () => true;
  app.setValidatorCompiler(({ schema, httpPart, contentType }) =>
    httpPart === 'body' && contentType && RAW_BODY_MEDIA_TYPES.has(contentType)
      ? unchecked
      : (httpPart === 'body' ? strict : lenient).compile(schema),
  );

  app.setErrorHandler((err, request, reply) => sendError(request, reply, err as Error));
  app.setNotFoundHandler((request, reply) =>
    sendError(
      request,
      reply,
      new PixeliftError('route_not_found', { method: request.method, url: request.url.split('?')[0] }),
    ),
  );
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    (request as { startedAt?: bigint }).startedAt = process.hrtime.bigint();
  });
  app.addHook('onResponse', async (request, reply) => {
    const started = (request as { startedAt?: bigint }).startedAt;
    if (started === undefined) return;
    deps.telemetry.metrics.requests.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
  });

  // Fastify reads text/plain as a string by default; no route takes text, and a string body
  // reached handlers and schemas as "body must be object" (400) instead of 415 (issue 16).
  app.removeContentTypeParser('text/plain');
  // Image bytes as a body (uploads); JSON and multipart have their own parsers.
  app.addContentTypeParser(
    /^(?:image\/[\w.+-]+|application\/octet-stream)$/,
    { parseAs: 'buffer', bodyLimit: deps.settings.limits.maxInputBytes },
    (_req, body, done) => done(null, body),
  );
  await app.register(multipart, {
    limits: {
      fileSize: deps.settings.limits.maxInputBytes,
      files: MULTIPART_LIMITS.files,
      fields: MULTIPART_LIMITS.fields,
      fieldSize: MULTIPART_LIMITS.fieldBytes,
    },
    throwFileSizeLimit: true,
  });

  await app.register(swagger, nativeSwaggerOptions());
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? '';
    // `raw.upgrade`: Node saw a real upgrade (GET, Connection: upgrade), not just a header on a POST.
    const socketAuth =
      (request.raw as { upgrade?: boolean }).upgrade === true &&
      request.method === 'GET' &&
      request.headers.upgrade?.toLowerCase() === 'websocket' &&
      SOCKET_AUTH.some((p) => p.test(path));
    if (socketAuth || PUBLIC.some((p) => p.test(path))) {
      request.caller = { keyId: null };
      return;
    }
    request.caller = await authenticate(request, deps.access.keys, deps.settings.openWithoutKeys);
  });

  playgroundRoutes(app, WEB_DIR, deps.telemetry.logger);

  await app.register(async (api) => {
    api.addHook(
      'preHandler',
      rateLimitHook(deps.access.rateStore ?? new MemoryRateStore(), deps.settings.rateLimitPerMinute),
    );
    upscaleRoutes(api, deps);
    jobRoutes(api, deps);
    eventRoutes(api, deps);
    uploadRoutes(api, deps);
    fileRoutes(api, deps);
    metaRoutes(api, deps);
    modelRoutes(api, deps);
    await mountCompat(api, deps);
  });
  return app as unknown as FastifyInstance;
}

/**
 * The OpenAPI documents, generated from the route schemas: /openapi.json for the native API
 * (@fastify/swagger on the app) and /compat/<dialect>/openapi.json for each compatibility
 * dialect, built from the routes the dialect registered, with the dialect's prefix as its server
 * so that a client generated for the provider's paths only changes its base URL.
 */
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * Parts of a dialect route that its handler checks or shapes itself (the provider's own
     * errors), described in the dialect's OpenAPI document only: Fastify would enforce `body`
     * and `headers`, and serialize answers through `response`.
     */
    documentedBody?: unknown;
    documentedHeaders?: unknown;
    documentedResponse?: unknown;
  }
}

const SECURITY = () => ({
  components: {
    securitySchemes: {
      bearer: { type: 'http' as const, scheme: 'bearer' },
      apiKey: { type: 'apiKey' as const, in: 'header', name: 'X-API-Key' },
      basic: { type: 'http' as const, scheme: 'basic' },
    },
  },
  security: [{ bearer: [] }, { apiKey: [] }, { basic: [] }] as Record<string, string[]>[],
});

/** `/v1/jobs/:id` → `/v1/jobs/{id}`, as @fastify/swagger writes paths. */
function openapiPath(url: string): string {
  return url.replace(/:(\w+)/g, '{$1}');
}

/**
 * What both kinds of document share: components named by the schemas' `$id` (`Job`, `Model`)
 * rather than `def-N`, and request bodies written as OpenAPI request body objects
 * (`{required: false, content}`) kept optional, where @fastify/swagger marks every body required.
 */
function documentOptions(
  openapi: FastifyDynamicSwaggerOptions['openapi'],
  prefix = '',
): FastifyDynamicSwaggerOptions {
  const optionalBodies = new Set<string>();
  return {
    openapi,
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    transform: ({ schema, url, route }) => {
      const body = (schema as { body?: { required?: unknown } } | undefined)?.body;
      if (body?.required === false) {
        const path = openapiPath(prefix && url.startsWith(prefix) ? url.slice(prefix.length) || '/' : url);
        for (const method of [route.method].flat()) optionalBodies.add(`${method.toLowerCase()} ${path}`);
      }
      return { schema, url };
    },
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      // A copy: parts of the document may still be the route schemas themselves.
      const openapiObject = structuredClone(document.openapiObject);
      toOpenapi30(openapiObject);
      for (const [path, item] of Object.entries(openapiObject.paths ?? {})) {
        for (const [method, op] of Object.entries(item ?? {})) {
          const requestBody = (op as { requestBody?: { required?: boolean } }).requestBody;
          if (requestBody && optionalBodies.has(`${method} ${path}`)) requestBody.required = false;
        }
      }
      return openapiObject;
    },
  };
}

/**
 * What OpenAPI 3.0 reads differently from the JSON Schema the routes are checked with (Ajv):
 * exclusive bounds are spelled the draft-04 way (`minimum: 0, exclusiveMinimum: true`, not
 * `exclusiveMinimum: 0`), and an object with no `properties` and no `additionalProperties`
 * says outright that any property goes, or generated clients type it as an empty record.
 */
function toOpenapi30(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) toOpenapi30(item);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  for (const [exclusive, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (typeof o[exclusive] === 'number' && o[bound] === undefined) {
      o[bound] = o[exclusive];
      o[exclusive] = true;
    }
  }
  const isObject = o.type === 'object' || (Array.isArray(o.type) && o.type.includes('object'));
  if (isObject && o.properties === undefined && o.additionalProperties === undefined) {
    o.additionalProperties = true;
  }
  for (const value of Object.values(o)) toOpenapi30(value);
}

/** @fastify/swagger's options for /openapi.json. */
export function nativeSwaggerOptions(): FastifyDynamicSwaggerOptions {
  return documentOptions({
    openapi: '3.0.3',
    info: {
      title: 'Pixelift API',
      version: '1',
      license: { name: 'MIT' },
      description:
        'Self-hosted image upscaling. Errors: `{error: {code, message, param?, details?}}`; codes in docs/errors.md. Each compatibility dialect has its own document at `/compat/<dialect>/openapi.json`.',
    },
    // Relative: the server this document was fetched from, whatever its host or proxy.
    servers: [{ url: '/', description: 'This server' }],
    tags: [
      { name: 'jobs', description: 'Upscale jobs' },
      { name: 'events', description: 'Server-sent events' },
      { name: 'webhooks', description: 'Webhook delivery log and redelivery' },
      { name: 'uploads', description: 'Images stored for later jobs' },
      { name: 'files', description: 'Signed result links' },
      { name: 'models', description: 'Installed models' },
      { name: 'health', description: 'Probes and metrics' },
    ],
    ...SECURITY(),
  });
}

/** A compatibility dialect's document: what it is called and what it is compatible with. */
export interface DialectDocument {
  readonly name: string;
  readonly title: string;
  readonly description: string;
}

/**
 * Collects the routes registered under `/compat/<name>` (call before the dialects mount) and
 * builds each dialect's document on first request. WebSocket routes are left out: OpenAPI
 * does not describe them.
 */
export class DialectDocuments {
  private readonly routes = new Map<string, RouteOptions[]>();
  private readonly built = new Map<string, Promise<unknown>>();

  constructor(api: FastifyInstance) {
    api.addHook('onRoute', (route) => {
      const m = /^\/compat\/([\w-]+)(?:\/|$)/.exec(route.url);
      if (!m || (route as { websocket?: boolean }).websocket || route.method === 'HEAD') return;
      if (route.url === `/compat/${m[1]}/openapi.json`) return; // the document itself
      const list = this.routes.get(m[1]!) ?? [];
      list.push(route);
      this.routes.set(m[1]!, list);
    });
  }

  /** The routes collected for a dialect (method, url): what its document must describe. */
  routesOf(name: string): readonly RouteOptions[] {
    return this.routes.get(name) ?? [];
  }

  document(doc: DialectDocument): Promise<unknown> {
    let built = this.built.get(doc.name);
    if (!built) {
      built = buildDialectDocument(doc, this.routesOf(doc.name));
      this.built.set(doc.name, built);
      // A failed build is not kept: the next request tries again.
      built.catch(() => this.built.delete(doc.name));
    }
    return built;
  }
}

async function buildDialectDocument(doc: DialectDocument, routes: readonly RouteOptions[]): Promise<unknown> {
  const prefix = `/compat/${doc.name}`;
  // A scratch app holding the same routes and schemas, shown rather than hidden; it is never
  // listened on, so its handlers and validators are never run.
  const scratch = Fastify();
  scratch.setValidatorCompiler(() => () => true);
  scratch.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await scratch.register(
    swagger,
    documentOptions(
      {
        openapi: '3.0.3',
        info: { title: doc.title, version: '1', license: { name: 'MIT' }, description: doc.description },
        servers: [{ url: prefix, description: 'This server' }],
        ...SECURITY(),
      },
      prefix,
    ),
  );
  for (const route of routes) {
    const methods = [route.method].flat();
    for (const method of methods) {
      const {
        hide: _,
        documentedBody,
        documentedHeaders,
        documentedResponse,
        ...schema
      } = {
        ...(route.schema as Record<string, unknown> | undefined),
      };
      // What the handler checks or shapes itself is described by `documented*`: Fastify would
      // enforce `body` and `headers`, and serialize through `response`.
      if (documentedHeaders && !schema.headers) schema.headers = documentedHeaders;
      if (documentedBody && !schema.body && method !== 'GET') schema.body = documentedBody;
      if (documentedResponse && !schema.response) schema.response = documentedResponse;
      // One route answering several methods is one operation per method in the document.
      if (methods.length > 1 && typeof schema.operationId === 'string') {
        schema.operationId = `${schema.operationId}${method.charAt(0)}${method.slice(1).toLowerCase()}`;
      }
      scratch.route({ method, url: route.url, schema, handler: async () => null });
    }
  }
  await scratch.ready();
  try {
    return scratch.swagger();
  } finally {
    await scratch.close();
  }
}

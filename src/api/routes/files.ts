/**
 * GET /v1/files/:id — result files (id = the job's) and uploads (id = `upl_…`, for dialects whose
 * uploaded assets have a URL) behind signed, expiring links (no API key needed, so the link works
 * in an <img>, a browser or curl), with single byte ranges (resumable downloads).
 */
import type { FastifyInstance } from 'fastify';
import { PixeliftError } from '../../errors.js';
import { parseRange } from '../../storage/byte-range.js';
import type { Uses } from '../deps.js';
import { errorResponses } from '../schemas.js';

const fileBody = { content: { '*/*': { schema: { type: 'string', format: 'binary' } } } };

/** What these routes use of the API's dependencies. */
export type FileRouteDeps = Uses<{ jobs: 'service' | 'uploads'; files: 'blobs' | 'verifyLink' }>;

export function fileRoutes(app: FastifyInstance, deps: FileRouteDeps): void {
  app.get<{ Params: { id: string }; Querystring: { expires?: string; signature?: string } }>(
    '/v1/files/:id',
    {
      schema: {
        summary: 'Download a result (signed link from the job)',
        operationId: 'downloadFile',
        tags: ['files'],
        security: [],
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 100 } } },
        querystring: {
          type: 'object',
          properties: {
            expires: { type: 'string', maxLength: 20 },
            signature: { type: 'string', maxLength: 200 },
          },
        },
        headers: {
          type: 'object',
          properties: { range: { type: 'string', description: 'One byte range (`bytes=0-1023`).' } },
        },
        response: {
          200: { description: 'The file', ...fileBody },
          206: { description: 'The byte range asked for', ...fileBody },
          416: { description: 'The range lies beyond the file', type: 'null' },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const { expires = '', signature = '' } = request.query;
      if (!deps.files.verifyLink(id, expires, signature)) throw new PixeliftError('file_link_invalid');
      const result = await fileOf(id, deps);
      if (!result) throw new PixeliftError('file_not_found', { id });
      const size = await deps.files.blobs.size(result.blobKey);
      if (size === undefined) throw new PixeliftError('file_not_found', { id });
      const ext = result.format === 'jpeg' ? 'jpg' : result.format;
      reply
        .header('content-type', result.contentType)
        .header('accept-ranges', 'bytes')
        .header('cache-control', 'private, max-age=3600')
        .header('etag', `"${id}-${size}"`);
      for (const [name, value] of Object.entries(fileSafetyHeaders(id, ext, result.contentType))) {
        reply.header(name, value);
      }
      const range = parseRange(request.headers.range, size);
      if (range === 'unsatisfiable') {
        return reply.code(416).header('content-range', `bytes */${size}`).send();
      }
      if (range) {
        reply
          .code(206)
          .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
          .header('content-length', String(range.end - range.start + 1));
        return reply.send(await deps.files.blobs.stream(result.blobKey, range));
      }
      reply.header('content-length', String(size));
      return reply.send(await deps.files.blobs.stream(result.blobKey));
    },
  );
}

/** Raster types a browser may show in place; anything else is a download. */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/avif', 'image/gif']);

/**
 * What every file response carries so that a stored file can never run as a page on this
 * origin: no MIME sniffing, no scripts or loads (CSP sandbox, for an SVG allowed in by
 * PIXELIFT_ALLOW_SVG), and `inline` only for raster images, with a filename of [A-Za-z0-9_.].
 */
export function fileSafetyHeaders(id: string, ext: string, contentType: string): Record<string, string> {
  const name = `${id}.${ext}`.replace(/[^A-Za-z0-9_.]/g, '_');
  return {
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; sandbox",
    'content-disposition': `${INLINE_TYPES.has(contentType) ? 'inline' : 'attachment'}; filename="${name}"`,
  };
}

/** The stored file a link names: a job's result, or an upload. */
async function fileOf(
  id: string,
  deps: FileRouteDeps,
): Promise<{ blobKey: string; contentType: string; format: string } | undefined> {
  if (id.startsWith('upl_')) return deps.jobs.uploads.get(id);
  const job = await deps.jobs.service.get(id, undefined).catch(() => undefined);
  return job?.result ?? undefined;
}

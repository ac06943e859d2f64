/**
 * POST /v1/uploads: store an image once, refer to it by id in later jobs (`image: "upl_…"`).
 * Multipart (field `file` or `image`) or the raw bytes with an image/* or octet-stream type.
 * The header is checked against the limits before anything is stored.
 */
import type { FastifyInstance } from 'fastify';
import { probe } from '../../engine/decode.js';
import { PixeliftError } from '../../errors.js';
import { checkInputFormat } from '../../jobs/input-format.js';
import { type Caller, newId } from '../../jobs/service.js';
import type { Upload } from '../../jobs/store.js';
import type { ApiDeps } from '../deps.js';
import { readMultipart } from '../multipart.js';
import { errorResponses, uploadRequestBody, uploadSchema } from '../schemas.js';

const MIME: Record<string, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
  gif: 'image/gif',
  svg: 'image/svg+xml', // only with PIXELIFT_ALLOW_SVG; served as an attachment (routes/files.ts)
};

/**
 * Check an image's header against the limits and keep it for later jobs (uploads expire after
 * settings.uploadTtlSeconds). `id` lets a dialect derive the id from its own (Runware's UUIDs).
 */
export async function storeUpload(
  deps: ApiDeps,
  caller: Caller,
  data: Buffer,
  id: string = newId('upl'),
): Promise<Upload> {
  const info = await probe(data, deps.settings.limits);
  checkInputFormat(info.format, deps.settings.allowSvg ?? false);
  const now = Date.now();
  const upload = await deps.uploads.create({
    id,
    keyId: caller.keyId,
    blobKey: `uploads/${id}`,
    bytes: data.length,
    contentType: MIME[info.format] ?? 'application/octet-stream',
    width: info.width,
    height: info.height,
    format: info.format,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + deps.settings.uploadTtlSeconds * 1000).toISOString(),
  });
  await deps.blobs.put(upload.blobKey, data, upload.contentType);
  return upload;
}

export function uploadRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.post(
    '/v1/uploads',
    {
      bodyLimit: deps.settings.limits.maxInputBytes,
      schema: {
        summary: 'Upload an image to use in jobs by id',
        operationId: 'createUpload',
        tags: ['uploads'],
        body: uploadRequestBody,
        response: { 201: uploadSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      let data: Buffer | undefined;
      if (request.isMultipart()) {
        const { file } = await readMultipart(request, deps.settings.limits.maxInputBytes);
        if (file && (file.field === 'file' || file.field === 'image')) data = file.data;
      } else if (Buffer.isBuffer(request.body)) {
        data = request.body;
      }
      if (!data || data.length === 0) {
        throw new PixeliftError('invalid_argument', {
          param: 'file',
          message:
            'Send the image as multipart field "file", or as the raw body with an image/* Content-Type',
        });
      }
      const upload = await storeUpload(deps, request.caller, data);
      return reply.code(201).send({
        id: upload.id,
        object: 'upload',
        bytes: upload.bytes,
        content_type: upload.contentType,
        width: upload.width,
        height: upload.height,
        format: upload.format,
        created_at: upload.createdAt,
        expires_at: upload.expiresAt,
      });
    },
  );
}

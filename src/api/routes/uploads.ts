/**
 * POST /v1/uploads: store an image once, refer to it by id in later jobs (`image: "upl_…"`).
 * Multipart (field `file` or `image`) or the raw bytes with an image/* or octet-stream type.
 * The header is checked against the limits before anything is stored.
 */
import type { FastifyInstance } from 'fastify';
import { probe } from '../../engine/decode.js';
import { PixeliftError } from '../../errors.js';
import { type Caller, newId } from '../../jobs/service.js';
import type { Upload } from '../../jobs/store.js';
import type { ApiDeps } from '../deps.js';
import { errorEnvelope } from '../schemas.js';

const MIME: Record<string, string> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  avif: 'image/avif',
  heif: 'image/heif',
  tiff: 'image/tiff',
  gif: 'image/gif',
};

/** Check an image's header against the limits and store it as an upload of `caller` (also used by dialects' asset uploads). */
export async function storeUpload(
  data: Buffer,
  caller: Caller,
  deps: Pick<ApiDeps, 'uploads' | 'blobs' | 'settings'>,
): Promise<Upload> {
  const info = await probe(data, deps.settings.limits);
  const id = newId('upl');
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
        tags: ['uploads'],
        response: {
          201: { type: 'object', additionalProperties: true },
          '4XX': errorEnvelope,
          '5XX': errorEnvelope,
        },
      },
    },
    async (request, reply) => {
      let data: Buffer | undefined;
      if (request.isMultipart()) {
        for await (const part of request.parts()) {
          if (part.type === 'file' && (part.fieldname === 'file' || part.fieldname === 'image'))
            data = await part.toBuffer();
          else if (part.type === 'file') await part.toBuffer();
        }
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
      const upload = await storeUpload(data, request.caller, deps);
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

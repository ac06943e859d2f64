/**
 * POST /v1/uploads: store an image once, refer to it by id in later jobs (`image: "upl_…"`).
 * Multipart (field `file` or `image`) or the raw bytes with an image/* or octet-stream type.
 * The header is checked against the limits before anything is stored (jobs/uploads.ts).
 */
import type { FastifyInstance } from 'fastify';
import { PixeliftError } from '../../errors.js';
import type { Uses } from '../deps.js';
import { readMultipart } from '../multipart.js';
import { errorResponses, uploadRequestBody, uploadSchema } from '../schemas.js';

/** What these routes use of the API's dependencies. */
export type UploadRouteDeps = Uses<{ jobs: 'uploads'; settings: 'limits' }>;

export function uploadRoutes(app: FastifyInstance, deps: UploadRouteDeps): void {
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
      const upload = await deps.jobs.uploads.store(request.caller, data);
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

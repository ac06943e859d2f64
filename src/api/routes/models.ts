/**
 * POST /v1/models (multipart: `file`, optional `id`) and DELETE /v1/models/{id}: bring your own
 * PyTorch/safetensors model over HTTP, for admin keys only (`pixelift keys create --admin`).
 * The upload streams to a temporary file under PIXELIFT_MAX_MODEL_BYTES, is recognised,
 * converted and golden-checked, and only then joins the models directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance } from 'fastify';
import { PixeliftError } from '../../errors.js';
import type { Caller } from '../../jobs/service.js';
import type { ModelEntry } from '../../models/catalog.js';
import { addUserModel, removeUserModel } from '../../models/user-model-admin.js';
import type { Uses } from '../deps.js';
import { errorResponses, modelUploadRequestBody, userModelSchema } from '../schemas.js';

/** What these routes use of the API's dependencies. */
export type ModelRouteDeps = Uses<{ models: 'store' | 'sync' }>;

function requireAdmin(caller: Caller, action: string): void {
  if (!caller.admin) throw new PixeliftError('forbidden', { action });
}

/** A model as the API shows it (GET /v1/models has the same fields and a few more). */
export function presentUserModel(m: ModelEntry) {
  return {
    id: m.id,
    object: 'model',
    name: m.name,
    kind: m.kind,
    scales: m.scales,
    origin: m.origin,
    format: m.source.format,
    architecture: m.architecture ?? null,
    params: m.cost[m.scales[0]!]?.params ?? null,
    flops_per_pixel: m.cost[m.scales[0]!]?.flops ?? null,
    license: m.license,
  };
}

export function modelRoutes(app: FastifyInstance, deps: ModelRouteDeps): void {
  const maxBytes = deps.models.store.userModelSettings.maxModelBytes;
  app.post(
    '/v1/models',
    {
      bodyLimit: maxBytes + 1024 * 1024,
      schema: {
        summary: 'Add a PyTorch (.pth/.pt/.ckpt) or .safetensors model (admin keys)',
        operationId: 'addModel',
        tags: ['models'],
        body: modelUploadRequestBody,
        response: { 201: userModelSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      requireAdmin(request.caller, 'Adding a model');
      if (!request.isMultipart()) {
        throw new PixeliftError('unsupported_media_type', {
          contentType: request.headers['content-type'] ?? 'none',
          expected: 'multipart/form-data with the model as field "file"',
        });
      }
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-model-'));
      try {
        let file: string | undefined;
        let originalName: string | undefined;
        let id: string | undefined;
        try {
          for await (const part of request.parts({ limits: { fileSize: maxBytes, files: 1 } })) {
            if (part.type === 'file') {
              if (part.fieldname !== 'file') {
                part.file.resume();
                continue;
              }
              originalName = path.basename(part.filename || 'model.pth');
              file = path.join(dir, `upload${path.extname(originalName).toLowerCase()}`);
              await pipeline(part.file, fs.createWriteStream(file));
            } else if (part.fieldname === 'id') {
              id = String(part.value);
            }
          }
        } catch (err) {
          if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
            throw new PixeliftError('model_too_large', {
              file: originalName ?? 'the upload',
              bytes: `more than ${maxBytes}`,
              limit: maxBytes,
            });
          }
          throw err;
        }
        if (!file || !originalName) {
          throw new PixeliftError('invalid_argument', {
            param: 'file',
            message: 'Send the model file as multipart field "file"',
          });
        }
        const { model } = await addUserModel(deps.models.store, { file, originalName, id });
        try {
          await deps.models.sync?.publish(model);
        } catch (err) {
          removeUserModel(deps.models.store, model.id); // not shared, so not kept
          throw err;
        }
        return reply.code(201).send(presentUserModel(model));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/models/:id',
    {
      schema: {
        summary: 'Remove a model added over HTTP, by the CLI or by hand (admin keys)',
        operationId: 'deleteModel',
        tags: ['models'],
        params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
        response: {
          200: {
            type: 'object',
            required: ['id', 'object', 'deleted'],
            properties: {
              id: { type: 'string' },
              object: { type: 'string', enum: ['model'] },
              deleted: { type: 'boolean', enum: [true] },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      requireAdmin(request.caller, 'Removing a model');
      await deps.models.sync?.ensure(request.params.id);
      const m = removeUserModel(deps.models.store, request.params.id);
      await deps.models.sync?.unpublish(m.id);
      return { id: m.id, object: 'model', deleted: true };
    },
  );
}

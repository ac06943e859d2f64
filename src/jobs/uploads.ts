/**
 * Images stored once and referred to by id in later jobs (`image: "upl_…"`, a dialect's asset or
 * file id). The header is checked against the limits before anything is stored; uploads expire
 * after `ttlSeconds` (the sweeper removes them).
 */
import type { Limits } from '../config.js';
import { probe } from '../engine/decode.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import { checkInputFormat } from './input-format.js';
import { type Caller, newId } from './service.js';
import type { Upload, UploadStore } from './store.js';

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

export interface UploadsOptions {
  readonly store: UploadStore;
  readonly blobs: BlobStore;
  readonly limits: Limits;
  /** PIXELIFT_ALLOW_SVG (uploads check it as jobs do). */
  readonly allowSvg: boolean;
  /** How long an upload is kept, s. */
  readonly ttlSeconds: number;
  readonly log?: Logger;
}

export class Uploads {
  constructor(private readonly o: UploadsOptions) {}

  /**
   * Check an image's header against the limits and keep it for later jobs. `id` lets a dialect
   * derive the id from its own (Runware's UUIDs). The blob is written first: a row is what jobs
   * look up, so a row must never name a blob that is not there yet (or, after a failed write, at
   * all); a failed row leaves a blob that is deleted here.
   */
  async store(caller: Caller, data: Buffer, id: string = newId('upl')): Promise<Upload> {
    const info = await probe(data, this.o.limits);
    checkInputFormat(info.format, this.o.allowSvg);
    const now = Date.now();
    const upload: Upload = {
      id,
      keyId: caller.keyId,
      blobKey: `uploads/${id}`,
      bytes: data.length,
      contentType: MIME[info.format] ?? 'application/octet-stream',
      width: info.width,
      height: info.height,
      format: info.format,
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + this.o.ttlSeconds * 1000).toISOString(),
    };
    await this.o.blobs.put(upload.blobKey, data, upload.contentType);
    try {
      return await this.o.store.create(upload);
    } catch (err) {
      await this.o.blobs
        .delete(upload.blobKey)
        .catch((cleanup: unknown) =>
          this.o.log?.warn(
            { err: cleanup, blobKey: upload.blobKey },
            'uploads: could not delete the blob of a failed upload',
          ),
        );
      throw err;
    }
  }

  get(id: string): Promise<Upload | undefined> {
    return this.o.store.get(id);
  }
}

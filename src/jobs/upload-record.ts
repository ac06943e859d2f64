/**
 * What the SQLite and PostgreSQL upload stores share: the row's shape, the insert's columns and
 * values in one order, and the row → upload mapping. Only the placeholders and drivers differ.
 */
import { instantMs } from './job-record.js';
import type { Upload } from './store.js';

export interface UploadRow {
  readonly id: string;
  readonly key_id: string | null;
  readonly blob_key: string;
  readonly bytes: number;
  readonly content_type: string;
  readonly width: number;
  readonly height: number;
  readonly format: string;
  readonly created_at: string;
  readonly expires_at: string;
}

export const UPLOAD_COLUMNS =
  'id, key_id, blob_key, bytes, content_type, width, height, format, created_at, expires_at, expires_at_ms';

/** The values of UPLOAD_COLUMNS, in order (expires_at_ms: the instant the sweeper compares). */
export function uploadValues(upload: Upload): unknown[] {
  return [
    upload.id,
    upload.keyId,
    upload.blobKey,
    upload.bytes,
    upload.contentType,
    upload.width,
    upload.height,
    upload.format,
    upload.createdAt,
    upload.expiresAt,
    instantMs('expiresAt', upload.expiresAt),
  ];
}

export function rowToUpload(row: UploadRow): Upload {
  return {
    id: row.id,
    keyId: row.key_id,
    blobKey: row.blob_key,
    bytes: row.bytes,
    contentType: row.content_type,
    width: row.width,
    height: row.height,
    format: row.format,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

/** Uploaded inputs in PostgreSQL (see ../sqlite/upload-store.ts). */
import { instantMs } from '../job-record.js';
import type { Upload, UploadStore } from '../store.js';
import type { PgPool } from './database.js';

interface UploadRow {
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

export class PostgresUploadStore implements UploadStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async create(upload: Upload): Promise<Upload> {
    const expiresAtMs = instantMs('expiresAt', upload.expiresAt);
    await this.#pool.query(
      `INSERT INTO uploads (id, key_id, blob_key, bytes, content_type, width, height, format, created_at,
         expires_at, expires_at_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
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
        expiresAtMs,
      ],
    );
    return upload;
  }

  async get(id: string): Promise<Upload | undefined> {
    const { rows } = await this.#pool.query<UploadRow>('SELECT * FROM uploads WHERE id = $1', [id]);
    return rows[0] && toUpload(rows[0]);
  }

  async expire(now: Date): Promise<Upload[]> {
    // DELETE … RETURNING: two nodes sweeping at once each get a row at most once.
    const { rows } = await this.#pool.query<UploadRow>(
      'DELETE FROM uploads WHERE expires_at_ms <= $1 RETURNING *',
      [now.getTime()],
    );
    return rows.map(toUpload);
  }
}

function toUpload(row: UploadRow): Upload {
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

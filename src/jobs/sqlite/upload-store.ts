/** Uploaded inputs waiting to be named by a job (`image: "upload:<id>"`), until they expire. */
import type { Statement } from 'better-sqlite3';
import { invalidArgument } from '../../errors.js';
import type { Upload, UploadStore } from '../store.js';
import type { SqliteDatabase } from './database.js';

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

export class SqliteUploadStore implements UploadStore {
  readonly #db: SqliteDatabase;
  readonly #byId: Statement<[string], UploadRow>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#byId = db.prepare('SELECT * FROM uploads WHERE id = ?');
  }

  async create(upload: Upload): Promise<Upload> {
    const expiresAtMs = Date.parse(upload.expiresAt);
    if (Number.isNaN(expiresAtMs))
      throw invalidArgument('expiresAt', 'an ISO 8601 instant', upload.expiresAt);
    this.#db
      .prepare(
        `INSERT INTO uploads (id, key_id, blob_key, bytes, content_type, width, height, format, created_at,
           expires_at, expires_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
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
      );
    return upload;
  }

  async get(id: string): Promise<Upload | undefined> {
    const row = this.#byId.get(id);
    return row && toUpload(row);
  }

  async expire(now: Date): Promise<Upload[]> {
    // RETURNING: the rows removed are exactly the rows returned, with no window between the two.
    const rows = this.#db
      .prepare<[number], UploadRow>('DELETE FROM uploads WHERE expires_at_ms <= ? RETURNING *')
      .all(now.getTime());
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

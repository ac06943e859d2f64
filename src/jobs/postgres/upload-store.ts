/** Uploaded inputs in PostgreSQL (see ../sqlite/upload-store.ts). */
import type { Upload, UploadStore } from '../store.js';
import { rowToUpload, UPLOAD_COLUMNS, type UploadRow, uploadValues } from '../upload-record.js';
import type { PgPool } from './database.js';

export class PostgresUploadStore implements UploadStore {
  readonly #pool: PgPool;

  constructor(pool: PgPool) {
    this.#pool = pool;
  }

  async create(upload: Upload): Promise<Upload> {
    await this.#pool.query(
      `INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      uploadValues(upload),
    );
    return upload;
  }

  async get(id: string): Promise<Upload | undefined> {
    const { rows } = await this.#pool.query<UploadRow>('SELECT * FROM uploads WHERE id = $1', [id]);
    return rows[0] && rowToUpload(rows[0]);
  }

  async expire(now: Date): Promise<Upload[]> {
    // DELETE … RETURNING: two nodes sweeping at once each get a row at most once.
    const { rows } = await this.#pool.query<UploadRow>(
      'DELETE FROM uploads WHERE expires_at_ms <= $1 RETURNING *',
      [now.getTime()],
    );
    return rows.map(rowToUpload);
  }
}

/** Uploaded inputs waiting to be named by a job (`image: "upload:<id>"`), until they expire. */
import type { Statement } from 'better-sqlite3';
import type { Upload, UploadStore } from '../store.js';
import { rowToUpload, UPLOAD_COLUMNS, type UploadRow, uploadValues } from '../upload-record.js';
import type { SqliteDatabase } from './database.js';

export class SqliteUploadStore implements UploadStore {
  readonly #db: SqliteDatabase;
  readonly #byId: Statement<[string], UploadRow>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#byId = db.prepare('SELECT * FROM uploads WHERE id = ?');
  }

  async create(upload: Upload): Promise<Upload> {
    this.#db
      .prepare(`INSERT INTO uploads (${UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(...uploadValues(upload));
    return upload;
  }

  async get(id: string): Promise<Upload | undefined> {
    const row = this.#byId.get(id);
    return row && rowToUpload(row);
  }

  async expire(now: Date): Promise<Upload[]> {
    // RETURNING: the rows removed are exactly the rows returned, with no window between the two.
    const rows = this.#db
      .prepare<[number], UploadRow>('DELETE FROM uploads WHERE expires_at_ms <= ? RETURNING *')
      .all(now.getTime());
    return rows.map(rowToUpload);
  }
}

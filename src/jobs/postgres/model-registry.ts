/** The user-model registry in PostgreSQL (see src/models/user-model-sync.ts). */
import type { ModelRegistry, RegisteredModel } from '../../models/user-model-sync.js';
import type { PgPool } from './database.js';

interface Row {
  id: string;
  file_name: string;
  sha256: string;
  bytes: string | number;
  blob_key: string;
  created_at: string;
}

export class PostgresModelRegistry implements ModelRegistry {
  constructor(private readonly pool: PgPool) {}

  async put(m: RegisteredModel): Promise<void> {
    await this.pool.query(
      `INSERT INTO user_models (id, file_name, sha256, bytes, blob_key, created_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET file_name = $2, sha256 = $3, bytes = $4, blob_key = $5, created_at = $6`,
      [m.id, m.fileName, m.sha256, m.bytes, m.blobKey, m.createdAt],
    );
  }

  async get(id: string): Promise<RegisteredModel | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM user_models WHERE id = $1', [id]);
    const r = rows[0];
    return (
      r && {
        id: r.id,
        fileName: r.file_name,
        sha256: r.sha256,
        bytes: Number(r.bytes),
        blobKey: r.blob_key,
        createdAt: r.created_at,
      }
    );
  }

  async delete(id: string): Promise<void> {
    await this.pool.query('DELETE FROM user_models WHERE id = $1', [id]);
  }
}

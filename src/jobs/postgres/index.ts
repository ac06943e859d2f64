/**
 * The scale-out persistence: every store over one PostgreSQL schema, shared by all API nodes
 * and workers. `openPostgresStores` migrates the schema before returning.
 */
import { randomBytes } from 'node:crypto';
import type { Stores } from '../store.js';
import { openPool, type PgPool, type PostgresOptions } from './database.js';
import { PostgresEventLog } from './event-log.js';
import { PostgresJobStore } from './job-store.js';
import { PostgresKeyStore } from './key-store.js';
import { PostgresUploadStore } from './upload-store.js';
import { PostgresWebhookOutbox } from './webhook-outbox.js';

export { type PgPool, type PostgresOptions, schemaVersion } from './database.js';
export { PostgresEventLog } from './event-log.js';
export { PostgresJobStore } from './job-store.js';
export { PostgresKeyStore } from './key-store.js';
export { PostgresUploadStore } from './upload-store.js';
export { PostgresWebhookOutbox } from './webhook-outbox.js';

export interface PostgresStores extends Stores {
  readonly pool: PgPool;
  readonly jobs: PostgresJobStore;
  /**
   * The value every node shares under `name`: the first node to ask stores `generate()`'s, the
   * others read it (webhook and URL-signing secrets, which must match across nodes).
   */
  sharedSetting(name: string, generate: () => string): Promise<string>;
  close(): Promise<void>;
}

export async function openPostgresStores(options: PostgresOptions): Promise<PostgresStores> {
  const pool = await openPool(options);
  let closed: Promise<void> | undefined;
  return {
    pool,
    jobs: new PostgresJobStore(pool),
    events: new PostgresEventLog(pool),
    outbox: new PostgresWebhookOutbox(pool),
    uploads: new PostgresUploadStore(pool),
    keys: new PostgresKeyStore(pool),
    async sharedSetting(name, generate) {
      await pool.query(
        'INSERT INTO shared_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING',
        [name, generate()],
      );
      // A separate statement: it sees whichever node's insert won.
      const { rows } = await pool.query<{ value: string }>(
        'SELECT value FROM shared_settings WHERE name = $1',
        [name],
      );
      return rows[0]!.value;
    },
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}

/** A random secret for sharedSetting's `generate`. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

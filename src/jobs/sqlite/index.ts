/**
 * The embedded persistence: every store over one SQLite file. The service takes the stores it
 * needs from here; only `close()` (at shutdown) needs the whole bundle.
 */
import { openDatabase, type SqliteDatabase } from './database.js';
import { SqliteEventLog } from './event-log.js';
import { SqliteJobStore } from './job-store.js';
import { SqliteKeyStore } from './key-store.js';
import { SqliteUploadStore } from './upload-store.js';
import { SqliteWebhookOutbox } from './webhook-outbox.js';

export { openDatabase, type SqliteDatabase, schemaVersion } from './database.js';
export { SqliteEventLog } from './event-log.js';
export { SqliteJobStore } from './job-store.js';
export { hashSecret, keyIdOf, SqliteKeyStore } from './key-store.js';
export { SqliteUploadStore } from './upload-store.js';
export { SqliteWebhookOutbox } from './webhook-outbox.js';

export interface SqliteStores {
  readonly db: SqliteDatabase;
  readonly jobs: SqliteJobStore;
  readonly events: SqliteEventLog;
  readonly outbox: SqliteWebhookOutbox;
  readonly uploads: SqliteUploadStore;
  readonly keys: SqliteKeyStore;
  /** Close the database (idempotent); the stores must not be used afterwards. */
  close(): void;
}

export function openSqliteStores(file: string | ':memory:'): SqliteStores {
  const db = openDatabase(file);
  return {
    db,
    jobs: new SqliteJobStore(db),
    events: new SqliteEventLog(db),
    outbox: new SqliteWebhookOutbox(db),
    uploads: new SqliteUploadStore(db),
    keys: new SqliteKeyStore(db),
    close: () => {
      if (db.open) db.close();
    },
  };
}

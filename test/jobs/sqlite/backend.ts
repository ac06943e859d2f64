/** The SQLite backend of the store contract: stores over a fresh file in a temp dir. */
import path from 'node:path';
import { after } from 'node:test';
import { openSqliteStores, type SqliteStores } from '../../../src/jobs/sqlite/index.js';
import { tempDir } from '../../helpers/models.js';
import type { StoreBackend, StoreHandle } from '../contract/backend.js';

const opened: SqliteStores[] = [];
after(() => {
  for (const stores of opened) stores.close();
});

/** A new database file (in a directory that does not exist yet) and the stores over it. */
export function freshStores(): SqliteStores & { file: string } {
  const file = path.join(tempDir('pixelift-sqlite-'), 'db', 'pixelift.db');
  return Object.assign(reopen(file), { file });
}

/** The stores over an existing file, closed after the test file runs. */
export function reopen(file: string): SqliteStores {
  const stores = openSqliteStores(file);
  opened.push(stores);
  return stores;
}

export const sqliteBackend: StoreBackend = {
  name: 'sqlite',
  fresh: async () => handle(freshStores()),
};

function handle(stores: SqliteStores & { file: string }): StoreHandle {
  return {
    ...stores,
    reopen: async () => handle(Object.assign(reopen(stores.file), { file: stores.file })),
    apiKeyRows: async () => stores.db.prepare('SELECT * FROM api_keys').all(),
    deleteEvents: async (jobId) => {
      stores.db.prepare('DELETE FROM job_events WHERE job_id = ?').run(jobId);
    },
    rejectDeliveries: async () => {
      stores.db.exec(
        `CREATE TRIGGER reject_deliveries BEFORE INSERT ON webhook_deliveries
         BEGIN SELECT RAISE(ABORT, 'delivery refused'); END`,
      );
    },
  };
}

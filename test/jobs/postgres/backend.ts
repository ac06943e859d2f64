/** The PostgreSQL backend of the store contract: stores over a fresh schema, dropped after the file. */
import { after } from 'node:test';
import { openPostgresStores, type PostgresStores } from '../../../src/jobs/postgres/index.js';
import { TEST_DATABASE_URL, testSchema } from '../../helpers/scale-out.js';
import type { StoreBackend, StoreHandle } from '../contract/backend.js';

const opened: PostgresStores[] = [];
// Registered before scale-out.ts drops the schemas? No: node runs `after` hooks in order of
// registration, and scale-out.ts registered its hook on import, first; closing twice is harmless.
after(async () => {
  for (const stores of opened) await stores.close();
});

/** Stores over `schema` (migrated on first open), closed after the test file. */
export async function openStores(schema: string): Promise<PostgresStores> {
  const stores = await openPostgresStores({ url: TEST_DATABASE_URL, schema, max: 4 });
  opened.push(stores);
  return stores;
}

export const postgresBackend: StoreBackend = {
  name: 'postgres',
  fresh: async () => {
    const schema = testSchema();
    return handle(await openStores(schema), schema);
  },
};

function handle(stores: PostgresStores, schema: string): StoreHandle {
  return {
    jobs: stores.jobs,
    events: stores.events,
    outbox: stores.outbox,
    uploads: stores.uploads,
    keys: stores.keys,
    close: () => stores.close(),
    reopen: async () => handle(await openStores(schema), schema),
    apiKeyRows: async () => (await stores.pool.query('SELECT * FROM api_keys')).rows,
    deleteEvents: async (jobId) => {
      await stores.pool.query('DELETE FROM job_events WHERE job_id = $1', [jobId]);
    },
    rejectDeliveries: async () => {
      await stores.pool.query(
        `CREATE FUNCTION reject_delivery() RETURNS trigger LANGUAGE plpgsql
           AS $$ BEGIN RAISE EXCEPTION 'delivery refused'; END $$;
         CREATE TRIGGER reject_deliveries BEFORE INSERT ON webhook_deliveries
           FOR EACH ROW EXECUTE FUNCTION reject_delivery()`,
      );
    },
  };
}

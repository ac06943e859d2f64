/**
 * The store contract runs against each backend: a backend hands out fresh, empty stores, and
 * answers the few questions a test must ask the database behind the interface.
 */
import type { Stores } from '../../../src/jobs/store.js';

export interface StoreHandle extends Stores {
  /** The same database through a second set of stores (a restart, or a second node). */
  reopen(): Promise<StoreHandle>;
  /** Raw rows of the api_keys table (to check what is stored). */
  apiKeyRows(): Promise<unknown[]>;
  /** Delete a job's events behind the stores' back (as deleting the job does). */
  deleteEvents(jobId: string): Promise<void>;
  /** From now on the database refuses every new webhook delivery row ("delivery refused"), by a trigger. */
  rejectDeliveries(): Promise<void>;
}

export interface StoreBackend {
  readonly name: 'sqlite' | 'postgres';
  fresh(): Promise<StoreHandle>;
}

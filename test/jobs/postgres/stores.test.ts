/** The store contract (test/jobs/contract) against the scale-out backend, PostgreSQL (a schema per test, dropped after). */
import { eventLogContract } from '../contract/event-log.js';
import { jobMoveEventsContract } from '../contract/job-move-events.js';
import { jobStoreClaimByIdContract } from '../contract/job-store-claim-by-id.js';
import { jobStoreCreateContract } from '../contract/job-store-create.js';
import { jobStoreLifecycleContract } from '../contract/job-store-lifecycle.js';
import { jobStoreQueueContract } from '../contract/job-store-queue.js';
import { jobTransitionContract } from '../contract/job-transition.js';
import { keyStoreContract } from '../contract/key-store.js';
import { uploadStoreContract } from '../contract/upload-store.js';
import { webhookOutageContract } from '../contract/webhook-outage.js';
import { webhookOutboxContract } from '../contract/webhook-outbox.js';
import { postgresBackend } from './backend.js';

for (const contract of [
  eventLogContract,
  jobStoreCreateContract,
  jobStoreLifecycleContract,
  jobStoreQueueContract,
  jobStoreClaimByIdContract,
  jobTransitionContract,
  jobMoveEventsContract,
  keyStoreContract,
  uploadStoreContract,
  webhookOutboxContract,
  webhookOutageContract,
]) {
  contract(postgresBackend);
}

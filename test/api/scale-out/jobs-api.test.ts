/** The same API tests as ../jobs-api.test.ts, on PostgreSQL + Redis (BullMQ) + S3 with a worker node. */
import { jobsApiSuite } from '../suites/jobs-api.js';

jobsApiSuite('scale-out');

/** The same API tests as ../limits-api.test.ts, on PostgreSQL + Redis (BullMQ) + S3 with a worker node. */
import { limitsApiSuite } from '../suites/limits-api.js';

limitsApiSuite('scale-out');

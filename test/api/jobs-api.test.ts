import { jobsApiSuite } from './suites/jobs-api.js';

jobsApiSuite('embedded');

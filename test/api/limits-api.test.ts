import { limitsApiSuite } from './suites/limits-api.js';

limitsApiSuite('embedded');

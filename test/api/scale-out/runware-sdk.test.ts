/** Runware's official JS SDK against two API nodes and a worker (test/api/suites/runware-sdk.ts). */
import { runwareSdkSuite } from '../suites/runware-sdk.js';

runwareSdkSuite('scale-out');

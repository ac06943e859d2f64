/** Replicate's official JS client against two API nodes and a worker (test/api/suites/replicate-sdk.ts). */
import { replicateSdkSuite } from '../suites/replicate-sdk.js';

replicateSdkSuite('scale-out');

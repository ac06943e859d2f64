/** Replicate's official JS client against one server (test/api/suites/replicate-sdk.ts). */
import { replicateSdkSuite } from '../suites/replicate-sdk.js';

replicateSdkSuite('embedded');

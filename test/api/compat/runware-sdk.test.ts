/** Runware's official JS SDK against one server (test/api/suites/runware-sdk.ts). */
import { runwareSdkSuite } from '../suites/runware-sdk.js';

runwareSdkSuite('embedded');

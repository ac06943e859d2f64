/** fal's official JS client against one server (test/api/suites/fal-client.ts). */
import { falClientSuite } from '../suites/fal-client.js';

falClientSuite('embedded');

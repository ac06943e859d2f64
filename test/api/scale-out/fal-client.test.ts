/** fal's official JS client against two API nodes and a worker (test/api/suites/fal-client.ts). */
import { falClientSuite } from '../suites/fal-client.js';

falClientSuite('scale-out');

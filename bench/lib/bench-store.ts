/** The model store every benchmark opens: CPU, every core, full graph optimization, no user models, quiet. */
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log.js';
import { ModelStore } from '../../src/models/store.js';

export function benchStore(
  cacheDir: string,
  packageRoot: string,
  threads = os.availableParallelism(),
): ModelStore {
  return new ModelStore({
    modelCacheDir: cacheDir,
    modelsDir: path.join(cacheDir, 'no-user-models'),
    session: { device: 'cpu', threads, graphOptimizationLevel: 'all' },
    log: silentLogger,
    packageRoot,
  });
}

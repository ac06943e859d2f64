/**
 * The model store every benchmark opens: CPU, every core, full graph optimization, no user models,
 * quiet; `session` overrides those settings (bench/prelu-probe.ts runs one without the PRelu split).
 */
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log.js';
import type { SessionSettings } from '../../src/models/session.js';
import { ModelStore } from '../../src/models/store.js';

export function benchStore(
  cacheDir: string,
  packageRoot: string,
  threads = os.availableParallelism(),
  session: Partial<SessionSettings> = {},
): ModelStore {
  return new ModelStore({
    modelCacheDir: cacheDir,
    modelsDir: path.join(cacheDir, 'no-user-models'),
    session: { device: 'cpu', threads, graphOptimizationLevel: 'all', ...session },
    log: silentLogger,
    packageRoot,
  });
}

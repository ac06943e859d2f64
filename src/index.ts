/**
 * Pixelift as a library.
 *
 *   import { upscale, listModels } from 'pixelift';
 *   const { data, info } = await upscale(await readFile('photo.jpg'), { scale: 4, format: 'webp' },
 *     { onProgress: (f) => console.log(f), signal: AbortSignal.timeout(60_000) });
 *
 * `upscale` runs in worker processes (a shared pool sized by PIXELIFT_WORKERS / PIXELIFT_THREADS),
 * never on the caller's event loop: onnxruntime's run() blocks its thread for the whole image.
 * Idle workers do not keep the process alive; `close()` stops them at once.
 * `upscaleImage` (the same pipeline, in this process) is exported for callers that manage
 * their own processes.
 */
import { config } from './config.js';
import type { UpscaleHooks, UpscaleOptions, UpscaleResult } from './engine/pipeline.js';
import { silentLogger } from './log.js';
import type { ModelEntry } from './models/catalog.js';
import { type ModelStore, modelStoreFor } from './models/store.js';
import { WorkerPool } from './workers/pool.js';
import { workerSettings } from './workers/protocol.js';

export { type Config, loadConfig, type Precision } from './config.js';
export type {
  OutputFormat,
  UpscaleHooks,
  UpscaleInfo,
  UpscaleOptions,
  UpscaleResult,
} from './engine/pipeline.js';
export { OUTPUT_FORMATS, upscaleImage } from './engine/pipeline.js';
export type { Fit, OversizePolicy } from './engine/plan.js';
export { ERRORS, type ErrorCode, isPixeliftError, PixeliftError } from './errors.js';
export { MODEL_ALIASES, type ModelAlias } from './models/aliases.js';
export type { ModelEntry, ModelKind } from './models/catalog.js';
export { importPytorch, readStateDict } from './models/pytorch/import.js';
export { ModelStore } from './models/store.js';
export { WorkerPool } from './workers/pool.js';

let pool: WorkerPool | undefined;
let store: ModelStore | undefined;

function defaultStore(): ModelStore {
  store ??= modelStoreFor(config(), silentLogger);
  return store;
}

/** Upscale one image (bytes or a file path) in a worker process. */
export function upscale(
  input: Buffer | string,
  options: UpscaleOptions = {},
  hooks: UpscaleHooks = {},
): Promise<UpscaleResult> {
  const c = config();
  pool ??= new WorkerPool({ size: c.workers, settings: workerSettings(c, 'json'), log: silentLogger });
  return pool.run(
    {
      input,
      options: {
        limits: c.limits,
        tile: c.tile,
        tiling: c.tiling,
        defaultPrecision: c.precision,
        ...options,
      },
    },
    hooks,
  );
}

/** Every model: the installed built-ins, then the user's own (PIXELIFT_MODELS_DIR). */
export function listModels(): readonly ModelEntry[] {
  return defaultStore().list();
}

/** Stop the shared worker pool (running jobs are canceled). */
export async function close(): Promise<void> {
  const p = pool;
  pool = undefined;
  await p?.close();
}

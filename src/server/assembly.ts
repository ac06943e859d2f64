/**
 * The parts `pixelift serve` (boot.ts) and `pixelift worker` (worker-node.ts) assemble alike.
 * Nothing here reaches Fastify: a worker serves no HTTP and does not load it.
 */
import type { Presenter } from '../api/present.js';
import type { Config } from '../config.js';
import { resultUploader } from '../delivery/result-upload.js';
import type { JobEvents } from '../jobs/events.js';
import { PostgresModelRegistry } from '../jobs/postgres/model-registry.js';
import { JobRunner } from '../jobs/runner.js';
import type { JobStore } from '../jobs/store.js';
import { type Logger, withFields } from '../log.js';
import { UserModelSync } from '../models/user-model-sync.js';
import type { BlobStore } from '../storage/blob-store.js';
import { signFileUrl } from '../storage/signed-url.js';
import { WorkerPool } from '../workers/pool.js';
import { workerSettings } from '../workers/protocol.js';
import type { Backends } from './backends.js';

/** Signed file links on `baseUrl()` (read at each call: the bound address is known only after listen). */
export function filePresenter(secret: string, baseUrl: () => string): Presenter {
  return {
    fileUrl: (fileId, expiresAt) => signFileUrl({ secret, baseUrl: baseUrl(), fileId, expiresAt }),
  };
}

/** Scale-out: the registry and blob store user models travel through; embedded: none. */
export function userModelSync(config: Config, backends: Backends, logger: Logger): UserModelSync | undefined {
  if (backends.mode !== 'scale-out') return undefined;
  return new UserModelSync({
    registry: new PostgresModelRegistry(backends.stores.pool),
    blobs: backends.blobs,
    modelsDir: config.modelsDir,
    log: logger,
  });
}

/**
 * A worker pool on this machine and the runner that feeds it: claiming from SQLite in the
 * embedded service, handed jobs by the BullMQ queue in `pixelift worker`.
 */
export function poolAndRunner(
  config: Config,
  backends: { readonly stores: { readonly jobs: JobStore }; readonly blobs: BlobStore },
  events: JobEvents,
  logger: Logger,
  modelSync?: UserModelSync,
) {
  const pool = new WorkerPool({
    size: config.workers,
    settings: workerSettings(config, 'json'),
    log: logger,
  });
  const runner = new JobRunner({
    jobs: backends.stores.jobs,
    blobs: backends.blobs,
    events,
    pool,
    concurrency: config.workers,
    maxRunningPerKey: config.service.maxRunningPerKey,
    maxAttempts: config.service.maxAttempts,
    limits: config.limits,
    tile: config.tile,
    log: withFields(logger, { component: 'runner' }),
    putResult: resultUploader(config.allowPrivateUrls),
    ...(modelSync ? { ensureModel: (name: string) => modelSync.ensure(name) } : {}),
  });
  return { pool, runner };
}

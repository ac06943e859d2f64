/**
 * `pixelift worker` in one function (DESIGN §5, scale-out): a process with a worker pool that
 * takes jobs from BullMQ, runs them, stores results in S3 and records them in PostgreSQL. Any
 * number of these run on any number of machines; it serves no HTTP. Like boot.ts it is
 * assembly: server/ is the composition root, the one room that wires the others together.
 *
 * Besides running jobs it heartbeats (a Redis key per worker, and BullMQ's job locks), listens
 * for cancellations, and reconciles the queue with PostgreSQL (jobs Redis lost are re-enqueued).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DIALECT_NAMES } from '../api/compat/names.js';
import { dialectWebhooks } from '../api/webhooks/index.js';
import type { Config } from '../config.js';
import { PixeliftError } from '../errors.js';
import { QueueWorker } from '../jobs/bullmq/worker.js';
import { JobEvents } from '../jobs/events.js';
import { type Logger, withFields } from '../log.js';
import { filePresenter, poolAndRunner, userModelSync } from './assembly.js';
import { openBackends } from './backends.js';

export interface RunningWorker {
  readonly id: string;
  /** Re-enqueue what the queue lost, now (it also runs every PIXELIFT_RECONCILE_INTERVAL). */
  reconcile(): Promise<string[]>;
  close(graceMs?: number): Promise<void>;
}

export async function startWorkerNode(config: Config, logger: Logger): Promise<RunningWorker> {
  const backends = await openBackends(config, logger);
  if (backends.mode !== 'scale-out') {
    await backends.close();
    throw new PixeliftError('invalid_config', {
      param: 'PIXELIFT_DATABASE_URL',
      message:
        '`pixelift worker` runs jobs for scale-out API nodes: set PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL and PIXELIFT_S3_URL (`pixelift serve` alone runs its own workers)',
    });
  }
  const { stores, blobs, settings, fanout } = backends;
  const id = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = withFields(logger, { worker: id });
  if (!config.service.publicUrl) {
    log.warn(
      'PIXELIFT_PUBLIC_URL is unset: file links in webhook bodies sent for this worker’s jobs will be relative',
    );
  }

  // Every dialect's formatter (a job from any API node may be this worker's), or the worker stops here.
  const { formatters } = dialectWebhooks(
    {
      presenter: filePresenter(backends.secrets.urlSigningSecret, () => config.service.publicUrl ?? ''),
      blobs,
      jobs: stores.jobs,
      runflowSigningSecret: config.service.runflowSigningSecret,
    },
    DIALECT_NAMES,
  );
  const events = new JobEvents({
    jobs: stores.jobs,
    // The API nodes' dispatchers wake on the event that follows every enqueued delivery.
    kickWebhooks: () => undefined,
    logger: log,
    fanout,
    formatters,
  });
  const { pool, runner } = poolAndRunner(config, backends, events, log, userModelSync(config, backends, log));
  fanout.onCancel((jobId) => {
    if (runner.isRunning(jobId)) {
      log.info({ jobId }, 'cancel received: stopping the job');
      runner.cancel(jobId);
    }
  });
  const lockMs = settings.lockSeconds * 1000;
  const worker = new QueueWorker({
    connection: backends.connectRedis('worker'),
    prefix: settings.redisPrefix,
    jobs: stores.jobs,
    events,
    runner,
    concurrency: config.workers,
    maxRunningPerKey: config.service.maxRunningPerKey,
    maxAttempts: config.service.maxAttempts,
    lockMs,
    log,
  });

  const beat = () =>
    fanout
      .beat(
        {
          id,
          host: os.hostname(),
          pid: process.pid,
          concurrency: config.workers,
          busy: runner.active,
          at: new Date().toISOString(),
        },
        lockMs,
      )
      .catch((err: unknown) => log.warn({ err }, 'heartbeat failed'));
  const reconcile = () => backends.queue.reconcile(stores.jobs);
  await beat();
  const beatTimer = setInterval(beat, lockMs / 2);
  const reconcileTimer = setInterval(
    () => void reconcile().catch((err: unknown) => log.warn({ err }, 'queue reconcile failed')),
    settings.reconcileSeconds * 1000,
  );
  await reconcile().catch((err: unknown) => log.warn({ err }, 'queue reconcile failed'));
  worker.start();
  log.info(
    { workers: config.workers, threads: config.threads, lockSeconds: settings.lockSeconds },
    'Pixelift worker taking jobs',
  );

  let closing: Promise<void> | undefined;
  return {
    id,
    reconcile,
    close(graceMs = config.service.shutdownGraceSeconds * 1000) {
      closing ??= (async () => {
        log.info({ graceMs, running: runner.active }, 'worker shutting down');
        clearInterval(reconcileTimer);
        clearInterval(beatTimer);
        // BullMQ stops fetching and waits for the processors; the runner ends them within the
        // grace period (handing the rest back to the queue), which lets the processors return.
        await Promise.all([worker.close(), runner.stop(graceMs)]);
        await fanout.retire(id).catch(() => undefined);
        await pool.close();
        await backends.close();
        log.info('worker stopped');
      })();
      return closing;
    },
  };
}

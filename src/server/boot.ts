/**
 * `pixelift serve` in one function, wired to the HTTP app and listening. Embedded (DESIGN §5):
 * SQLite job store and queue, filesystem blobs, a worker pool on this machine. Scale-out (all of
 * PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL, PIXELIFT_S3_URL set): a stateless API node over
 * PostgreSQL, S3 and BullMQ; the jobs run in `pixelift worker` processes (worker-node.ts).
 * `close()` is the graceful shutdown: refuse new jobs, let running ones finish within the grace
 * period, re-queue the rest, then stop everything.
 */
import net from 'node:net';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { buildApp } from '../api/app.js';
import { DIALECTS } from '../api/compat/index.js';
import { Metrics } from '../api/metrics.js';
import { RedisRateStore } from '../api/rate-limit.js';
import { dialectWebhooks, type WebhookContext } from '../api/webhooks/index.js';
import type { Config } from '../config.js';
import { checkCallbackUrl } from '../delivery/callback-url.js';
import { fetchUrl } from '../delivery/fetch-url.js';
import { WebhookDispatcher } from '../delivery/webhooks.js';
import { PixeliftError } from '../errors.js';
import { bullmqQueue } from '../jobs/bullmq/queue-port.js';
import { JobEvents } from '../jobs/events.js';
import { localQueue } from '../jobs/queue.js';
import { JobService } from '../jobs/service.js';
import { Sweeper } from '../jobs/sweeper.js';
import { Uploads } from '../jobs/uploads.js';
import type { Logger } from '../log.js';
import { withFields } from '../log.js';
import { modelStoreFor } from '../models/store.js';
import { verifyFileSignature } from '../storage/signed-url.js';
import { filePresenter, poolAndRunner, userModelSync } from './assembly.js';
import { type Backends, openBackends } from './backends.js';

/** Uploads are kept this long, s. */
const UPLOAD_TTL_SECONDS = 24 * 3600;
const SWEEP_INTERVAL_MS = 60_000;

export interface RunningService {
  readonly app: FastifyInstance;
  /** http://host:port actually bound (port 0 picks a free one). */
  readonly url: string;
  /** Expire results and uploads past their TTL now (the sweeper also runs every minute). */
  sweep(now?: Date): Promise<{ results: number; uploads: number }>;
  close(graceMs?: number): Promise<void>;
}

export async function startService(config: Config, logger: FastifyBaseLogger): Promise<RunningService> {
  const svc = config.service;
  const backends = await openBackends(config, logger);
  const { stores, blobs, secrets } = backends;
  await stores.keys.syncConfigKeys(config.apiKeys);
  const keyCount = await stores.keys.count();
  if (keyCount === 0 && !isLoopback(config.host)) {
    await backends.close();
    throw new PixeliftError('invalid_config', {
      param: 'PIXELIFT_HOST',
      message: `no API keys are configured, so the server runs in open mode and only binds to loopback; set PIXELIFT_API_KEYS (or create one with \`pixelift keys create\`) to listen on ${config.host}`,
    });
  }

  const models = modelStoreFor(config, logger);
  const modelSync = userModelSync(config, backends, logger);
  const allowPrivate = config.allowPrivateUrls;
  let publicUrl = config.service.publicUrl ?? '';
  const presenter = filePresenter(secrets.urlSigningSecret, () => publicUrl);
  const webhookContext: WebhookContext = {
    presenter,
    blobs,
    jobs: stores.jobs,
    runflowSigningSecret: svc.runflowSigningSecret,
    webhookSecret: secrets.webhookSecret,
  };
  // Every mounted dialect's formatter, or the boot stops here (api/webhooks/index.ts).
  const webhooks = dialectWebhooks(
    webhookContext,
    DIALECTS.map((d) => d.name),
  );
  const dispatcher = new WebhookDispatcher({
    outbox: stores.outbox,
    signers: webhooks.signers,
    policies: webhooks.policies,
    secret: secrets.webhookSecret,
    allowPrivate,
    log: withFields(logger, { component: 'webhooks' }),
  });
  const events = new JobEvents({
    jobs: stores.jobs,
    kickWebhooks: () => dispatcher.kick(),
    logger,
    fanout: backends.mode === 'scale-out' ? backends.fanout : undefined,
    formatters: webhooks.formatters,
  });
  if (backends.mode === 'scale-out') {
    // Workers queue deliveries in the shared outbox; the event that follows wakes this node's dispatcher.
    events.bus.on('event', () => dispatcher.kick());
  }

  const local = backends.mode === 'embedded' ? poolAndRunner(config, backends, events, logger) : undefined;
  const scaleOut = backends.mode === 'scale-out' ? backends : undefined;
  const workerCensus = scaleOut ? new WorkerCensus(scaleOut, logger) : undefined;
  const service = new JobService({
    jobs: stores.jobs,
    uploads: stores.uploads,
    blobs,
    events,
    models,
    ensureModel: modelSync && ((name) => modelSync.ensure(name)),
    fetchImage: async (url, signal) =>
      (await fetchUrl(url, { allowPrivate, maxBytes: config.limits.maxInputBytes, signal })).data,
    limits: config.limits,
    precision: config.precision,
    workers: config.workers,
    resultTtlSeconds: svc.resultTtlSeconds,
    maxResultTtlSeconds: svc.maxResultTtlSeconds,
    maxQueueDepth: svc.maxQueueDepth,
    maxQueuedPerKey: svc.maxQueuedPerKey,
    allowSvg: svc.allowSvg,
    charge: true,
    checkCallbackUrl: (url, param) => checkCallbackUrl(url, param, allowPrivate),
    queue: scaleOut
      ? bullmqQueue({ queue: scaleOut.queue, fanout: scaleOut.fanout, jobs: stores.jobs })
      : localQueue(local!.runner),
    log: logger,
  });
  const sweeper = new Sweeper({
    jobs: stores.jobs,
    uploads: stores.uploads,
    blobs,
    events,
    log: logger,
    intervalMs: SWEEP_INTERVAL_MS,
  });
  const metrics = new Metrics({
    jobCounts: () => stores.jobs.counts(),
    workers: () =>
      local ? { busy: local.pool.stats().busy, size: config.workers } : workerCensus!.snapshot(),
    webhooksPending: () => stores.outbox.pendingCount(),
  });
  events.bus.on('event', (e) => {
    if (e.type === 'completed') metrics.jobsFinished.inc({ status: 'succeeded' });
    else if (e.type === 'failed' || e.type === 'canceled' || e.type === 'expired')
      metrics.jobsFinished.inc({ status: e.type });
  });
  dispatcher.on('attempt', (e) => metrics.webhookAttempts.inc({ outcome: e.outcome }));

  let shuttingDown = false;
  const closeHttp = new AbortController();
  const app = await buildApp({
    jobs: {
      service,
      uploads: new Uploads({
        store: stores.uploads,
        blobs,
        limits: config.limits,
        allowSvg: svc.allowSvg,
        ttlSeconds: UPLOAD_TTL_SECONDS,
        log: logger,
      }),
      events,
      eventLog: stores.events,
    },
    files: {
      blobs,
      presenter,
      verifyLink: (fileId, expires, signature) =>
        verifyFileSignature({
          secret: secrets.urlSigningSecret,
          fileId,
          expires,
          signature,
          now: new Date(),
        }),
    },
    models: { store: models, sync: modelSync },
    webhooks: {
      outbox: stores.outbox,
      redeliver: async (d) => {
        const copy = await stores.outbox.enqueue({
          jobId: d.jobId,
          eventType: d.eventType,
          url: d.url,
          messageId: d.messageId,
          payload: d.payload,
          scheme: d.scheme,
          now: new Date(),
        });
        dispatcher.kick();
        return copy;
      },
      secret: secrets.webhookSecret,
    },
    access: {
      keys: stores.keys,
      rateStore: scaleOut
        ? new RedisRateStore(scaleOut.connectRedis('rate-limit'), scaleOut.settings.redisPrefix)
        : undefined,
    },
    lifecycle: {
      ready: async () => ({
        database: await stores.keys.count().then(
          () => undefined,
          (err: unknown) =>
            `the database did not answer: ${err instanceof Error ? err.message : String(err)}`,
        ),
        blobs: await backends.blobsProblem(),
        workers: shuttingDown ? 'shutting down' : undefined,
      }),
      shuttingDown: () => shuttingDown,
      shutdownSignal: closeHttp.signal,
    },
    telemetry: { metrics, logger },
    settings: {
      limits: config.limits,
      maxWaitSeconds: svc.maxWaitSeconds,
      rateLimitPerMinute: svc.rateLimitPerMinute,
      maxTasksPerRequest: svc.maxTasksPerRequest,
      heartbeatMs: svc.sseHeartbeatSeconds * 1000,
      openWithoutKeys: isLoopback(config.host),
      bodyLimit: Math.ceil((config.limits.maxInputBytes * 4) / 3) + 1024 * 1024,
      socket: svc.socket,
      memoryBudget: config.memoryBudget,
    },
  });

  await local?.runner.start();
  workerCensus?.start();
  dispatcher.start();
  sweeper.start();
  await sweeper.sweep().catch((err: unknown) => logger.error({ err }, 'first sweep failed'));
  const address = await app.listen({ host: config.host, port: config.port });
  const bound = app.server.address();
  const url =
    typeof bound === 'object' && bound ? `http://${hostForUrl(config.host)}:${bound.port}` : address;
  if (!config.service.publicUrl) publicUrl = url;
  logger.info(
    {
      url,
      backend: backends.mode,
      workers: local ? config.workers : 'pixelift worker',
      keys: keyCount,
      mode: keyCount === 0 ? 'open' : 'keys',
      dataDir: config.dataDir,
    },
    `Pixelift listening on ${url}`,
  );

  let closing: Promise<void> | undefined;
  return {
    app,
    url,
    sweep: (now) => sweeper.sweep(now),
    close(graceMs = svc.shutdownGraceSeconds * 1000) {
      closing ??= (async () => {
        shuttingDown = true;
        logger.info(
          { graceMs, running: local?.runner.active ?? 0 },
          'shutting down: no new jobs; running jobs get the grace period',
        );
        await local?.runner.stop(graceMs);
        // Open SSE streams and held requests would keep app.close() waiting for their clients.
        closeHttp.abort();
        await app.close();
        sweeper.stop();
        workerCensus?.stop();
        await dispatcher.stop();
        await local?.pool.close();
        await backends.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}

/**
 * The workers an API node can see (their Redis heartbeats), for /metrics, whose gauges read
 * synchronously: refreshed every few seconds.
 */
class WorkerCensus {
  #last = { busy: 0, size: 0 };
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly backends: Extract<Backends, { mode: 'scale-out' }>,
    private readonly log: Logger,
  ) {}

  start(): void {
    const refresh = () =>
      void this.backends.fanout.liveWorkers().then(
        (beats) => {
          this.#last = {
            busy: beats.reduce((n, b) => n + b.busy, 0),
            size: beats.reduce((n, b) => n + b.concurrency, 0),
          };
        },
        (err: unknown) => this.log.debug({ err }, 'worker census failed'),
      );
    refresh();
    this.#timer = setInterval(refresh, 5000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  snapshot(): { busy: number; size: number } {
    return this.#last;
  }
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return net.isIPv6(host) ? `[${host}]` : host;
}

/**
 * `pixelift serve` in one function: the embedded service of DESIGN §5 — SQLite job store and
 * queue, filesystem blobs, a worker pool on this machine — wired to the HTTP app, listening.
 * `close()` is the graceful shutdown: refuse new jobs, let running ones finish within the grace
 * period, re-queue the rest, then stop everything.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { checkCallbackUrl } from '../delivery/callback-url.js';
import { fetchUrl } from '../delivery/fetch-url.js';
import { parseImageField } from '../delivery/image-input.js';
import { safeRequest } from '../delivery/safe-request.js';
import { generateWebhookSecret } from '../delivery/webhook-signing.js';
import { WebhookDispatcher, webhookEnvelope } from '../delivery/webhooks.js';
import { isPixeliftError, PixeliftError } from '../errors.js';
import { JobEvents } from '../jobs/events.js';
import { JobRunner } from '../jobs/runner.js';
import { JobService } from '../jobs/service.js';
import { openSqliteStores } from '../jobs/sqlite/index.js';
import { Sweeper } from '../jobs/sweeper.js';
import type { Job } from '../jobs/types.js';
import { withFields } from '../log.js';
import { modelStoreFor } from '../models/store.js';
import { FsBlobStore } from '../storage/fs-store.js';
import { signFileUrl, verifyFileSignature } from '../storage/signed-url.js';
import { WorkerPool } from '../workers/pool.js';
import { workerSettings } from '../workers/protocol.js';
import { buildApp } from './app.js';
import { compatWebhooks } from './compat/index.js';
import { Metrics } from './metrics.js';
import { presentEvent } from './present.js';

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
  fs.mkdirSync(config.dataDir, { recursive: true });
  const secrets = loadSecrets(config);
  const stores = openSqliteStores(path.join(config.dataDir, 'pixelift.db'));
  await stores.keys.syncConfigKeys(config.apiKeys);
  const keyCount = await stores.keys.count();
  if (keyCount === 0 && !isLoopback(config.host)) {
    stores.close();
    throw new PixeliftError('invalid_config', {
      param: 'PIXELIFT_HOST',
      message: `no API keys are configured, so the server runs in open mode and only binds to loopback; set PIXELIFT_API_KEYS (or create one with \`pixelift keys create\`) to listen on ${config.host}`,
    });
  }

  const blobDir = path.join(config.dataDir, 'blobs');
  fs.mkdirSync(blobDir, { recursive: true });
  const blobs = new FsBlobStore(blobDir);
  const models = modelStoreFor(config, logger);
  const pool = new WorkerPool({
    size: config.workers,
    settings: workerSettings(config, 'json'),
    log: logger,
  });
  const allowPrivate = config.allowPrivateUrls;
  let publicUrl = config.service.publicUrl ?? '';
  const presenter = {
    fileUrl: (fileId: string, expiresAt: Date) =>
      signFileUrl({ secret: secrets.urlSigningSecret, baseUrl: publicUrl, fileId, expiresAt }),
  };
  const compat = compatWebhooks({
    presenter,
    blobs,
    jobs: stores.jobs,
    runflowSigningSecret: svc.runflowSigningSecret,
  });
  const dispatcher = new WebhookDispatcher({
    outbox: stores.outbox,
    signers: compat.signers,
    policies: compat.policies,
    secret: secrets.webhookSecret,
    allowPrivate,
    log: withFields(logger, { component: 'webhooks' }),
  });
  const events = new JobEvents({
    log: stores.events,
    outbox: stores.outbox,
    kickWebhooks: () => dispatcher.kick(),
    logger,
  });

  for (const [dialect, formatter] of Object.entries(compat.formatters))
    events.setFormatter(dialect, formatter);
  events.setFormatter('native', (job: Job, event) => ({
    url: job.request.webhook!.url,
    scheme: 'standard',
    messageId: `msg_${event.id}`,
    payload: webhookEnvelope(event.type, presentEvent(event, presenter), new Date(event.createdAt)),
  }));

  const runner = new JobRunner({
    jobs: stores.jobs,
    blobs,
    events,
    pool,
    concurrency: config.workers,
    maxRunningPerKey: svc.maxRunningPerKey,
    maxAttempts: svc.maxAttempts,
    limits: config.limits,
    tile: config.tile,
    log: withFields(logger, { component: 'runner' }),
    putResult: async (url, data, contentType) => {
      const res = await safeRequest(url, {
        method: 'PUT',
        headers: { 'content-type': contentType },
        body: data,
        allowPrivate,
      }).catch((err: unknown) => {
        // A refused address stays url_forbidden/url_invalid (the request is wrong); transport failures are upload_failed.
        if (isPixeliftError(err, 'url_forbidden') || isPixeliftError(err, 'url_invalid')) throw err;
        throw new PixeliftError('upload_failed', { url, reason: (err as Error).message }, { cause: err });
      });
      if (res.status < 200 || res.status > 299) {
        throw new PixeliftError('upload_failed', { url, reason: `the server answered HTTP ${res.status}` });
      }
    },
  });
  const service = new JobService({
    jobs: stores.jobs,
    uploads: stores.uploads,
    blobs,
    events,
    models,
    fetchImage: async (url, signal) =>
      (await fetchUrl(url, { allowPrivate, maxBytes: config.limits.maxInputBytes, signal })).data,
    limits: config.limits,
    workers: config.workers,
    resultTtlSeconds: svc.resultTtlSeconds,
    maxResultTtlSeconds: svc.maxResultTtlSeconds,
    maxQueueDepth: svc.maxQueueDepth,
    charge: true,
    checkCallbackUrl: (url, param) => checkCallbackUrl(url, param, allowPrivate),
    kickRunner: () => runner.kick(),
    stopRunning: (id) => runner.cancel(id),
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
    workers: () => ({ busy: pool.stats().busy, size: config.workers }),
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
    service,
    keys: stores.keys,
    uploads: stores.uploads,
    blobs,
    events,
    eventLog: stores.events,
    outbox: stores.outbox,
    models,
    metrics,
    presenter,
    verifyFileLink: (fileId, expires, signature) =>
      verifyFileSignature({ secret: secrets.urlSigningSecret, fileId, expires, signature, now: new Date() }),
    parseImage: parseImageField,
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
    ready: async () => ({
      database: await stores.keys.count().then(
        () => true,
        () => false,
      ),
      blobs: fs.existsSync(blobDir),
      workers: !shuttingDown,
    }),
    shuttingDown: () => shuttingDown,
    shutdownSignal: closeHttp.signal,
    settings: {
      limits: config.limits,
      maxWaitSeconds: svc.maxWaitSeconds,
      rateLimitPerMinute: svc.rateLimitPerMinute,
      heartbeatMs: svc.sseHeartbeatSeconds * 1000,
      uploadTtlSeconds: UPLOAD_TTL_SECONDS,
      bodyLimit: Math.ceil((config.limits.maxInputBytes * 4) / 3) + 1024 * 1024,
    },
    logger,
  });

  await runner.start();
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
      workers: config.workers,
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
          { graceMs, running: runner.active },
          'shutting down: no new jobs; running jobs get the grace period',
        );
        await runner.stop(graceMs);
        // Open SSE streams and held requests would keep app.close() waiting for their clients.
        closeHttp.abort();
        await app.close();
        sweeper.stop();
        await dispatcher.stop();
        await pool.close();
        stores.close();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}

interface Secrets {
  webhookSecret: string;
  urlSigningSecret: string;
}

/** Secrets from config, else generated once and kept (0600) in the data dir, so links and signatures survive restarts. */
function loadSecrets(config: Config): Secrets {
  const file = path.join(config.dataDir, 'secrets.json');
  let stored: Partial<Secrets> = {};
  if (fs.existsSync(file)) stored = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Secrets>;
  const secrets: Secrets = {
    webhookSecret: config.service.webhookSecret ?? stored.webhookSecret ?? generateWebhookSecret(),
    urlSigningSecret:
      config.service.urlSigningSecret ?? stored.urlSigningSecret ?? randomBytes(32).toString('base64url'),
  };
  if (
    stored.webhookSecret !== secrets.webhookSecret ||
    stored.urlSigningSecret !== secrets.urlSigningSecret
  ) {
    const keep = {
      webhookSecret:
        stored.webhookSecret ?? (config.service.webhookSecret ? undefined : secrets.webhookSecret),
      urlSigningSecret:
        stored.urlSigningSecret ?? (config.service.urlSigningSecret ? undefined : secrets.urlSigningSecret),
    };
    fs.writeFileSync(file, `${JSON.stringify(keep, null, 2)}\n`, { mode: 0o600 });
  }
  return secrets;
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

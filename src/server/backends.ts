/**
 * Which engines hold the state, chosen from config once for `pixelift serve` and
 * `pixelift worker`: embedded (SQLite file, filesystem blobs, secrets in the data dir) or
 * scale-out (PostgreSQL, S3, Redis for the queue and the fan-out, secrets in PostgreSQL so
 * every node signs and verifies alike). Everything above this sees only the interfaces.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Config, ScaleOutSettings } from '../config.js';
import { generateWebhookSecret } from '../delivery/webhook-signing.js';
import { RedisFanout } from '../jobs/bullmq/fanout.js';
import { JobQueue } from '../jobs/bullmq/queue.js';
import { connectRedis, type Redis } from '../jobs/bullmq/redis.js';
import { openPostgresStores, type PostgresStores } from '../jobs/postgres/index.js';
import { openSqliteStores } from '../jobs/sqlite/index.js';
import type { Stores } from '../jobs/store.js';
import type { Logger } from '../log.js';
import type { BlobStore } from '../storage/blob-store.js';
import { FsBlobStore } from '../storage/fs-store.js';
import { parseS3Url, S3BlobStore } from '../storage/s3-store.js';

export interface Secrets {
  readonly webhookSecret: string;
  readonly urlSigningSecret: string;
}

export interface EmbeddedBackends {
  readonly mode: 'embedded';
  readonly stores: Stores;
  readonly blobs: BlobStore;
  readonly secrets: Secrets;
  /** Readiness of the blob store: undefined when it works, else what failed and why. */
  blobsProblem(): Promise<string | undefined>;
  close(): Promise<void>;
}

export interface ScaleOutBackends {
  readonly mode: 'scale-out';
  readonly settings: ScaleOutSettings;
  readonly stores: PostgresStores;
  readonly blobs: S3BlobStore;
  readonly secrets: Secrets;
  readonly queue: JobQueue;
  readonly fanout: RedisFanout;
  /** A connection of its own for BullMQ's worker (it blocks on it). */
  connectRedis(name: string): Redis;
  blobsProblem(): Promise<string | undefined>;
  close(): Promise<void>;
}

export type Backends = EmbeddedBackends | ScaleOutBackends;

export async function openBackends(config: Config, log: Logger): Promise<Backends> {
  const scaleOut = config.scaleOut;
  return scaleOut ? openScaleOut(config, scaleOut, log) : openEmbedded(config);
}

async function openEmbedded(config: Config): Promise<EmbeddedBackends> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const secrets = loadSecrets(config);
  const stores = openSqliteStores(path.join(config.dataDir, 'pixelift.db'));
  const blobDir = path.join(config.dataDir, 'blobs');
  fs.mkdirSync(blobDir, { recursive: true });
  return {
    mode: 'embedded',
    stores,
    blobs: new FsBlobStore(blobDir),
    secrets,
    blobsProblem: async () =>
      fs.existsSync(blobDir) ? undefined : `the blob directory ${blobDir} is missing`,
    close: async () => stores.close(),
  };
}

async function openScaleOut(
  config: Config,
  settings: ScaleOutSettings,
  log: Logger,
): Promise<ScaleOutBackends> {
  const blobs = new S3BlobStore(parseS3Url(settings.s3Url));
  const stores = await openPostgresStores({ url: settings.databaseUrl, schema: settings.databaseSchema });
  const connections: Redis[] = [];
  const redis = (name: string) => {
    const r = connectRedis(settings.redisUrl, name);
    connections.push(r);
    return r;
  };
  try {
    const secrets: Secrets = {
      webhookSecret:
        config.service.webhookSecret ?? (await stores.sharedSetting('webhook_secret', generateWebhookSecret)),
      urlSigningSecret:
        config.service.urlSigningSecret ??
        (await stores.sharedSetting('url_signing_secret', () => randomBytes(32).toString('base64url'))),
    };
    const main = redis('main');
    const queue = new JobQueue(main, settings.redisPrefix, log);
    const fanout = new RedisFanout(main, redis('subscriber'), settings.redisPrefix, log);
    await fanout.start();
    let closed: Promise<void> | undefined;
    return {
      mode: 'scale-out',
      settings,
      stores,
      blobs,
      secrets,
      queue,
      fanout,
      connectRedis: redis,
      blobsProblem: () => blobs.probe(),
      close() {
        closed ??= (async () => {
          await fanout.close();
          await queue.close();
          for (const r of connections) await r.quit().catch(() => r.disconnect());
          await stores.close();
          blobs.close();
        })();
        return closed;
      },
    };
  } catch (err) {
    for (const r of connections) r.disconnect();
    await stores.close();
    blobs.close();
    throw err;
  }
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

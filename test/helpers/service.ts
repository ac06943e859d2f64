/** Start the real service in this process on a free loopback port, over a fresh data dir. */
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { type Config, loadConfig } from '../../src/config.js';
import { openPostgresStores } from '../../src/jobs/postgres/index.js';
import { openSqliteStores } from '../../src/jobs/sqlite/index.js';
import type { Stores } from '../../src/jobs/store.js';
import { type RunningService, startService } from '../../src/server/boot.js';
import { type RunningWorker, startWorkerNode } from '../../src/server/worker-node.js';
import { tempDir } from './models.js';
import {
  startTestS3,
  TEST_DATABASE_URL,
  TEST_REDIS_URL,
  type TestS3,
  testRedisPrefix,
  testSchema,
} from './scale-out.js';

/**
 * `embedded`: SQLite, filesystem blobs, the runner in the server. `scale-out`: PostgreSQL (a
 * schema of its own), Redis (a key prefix of its own), S3 (s3rver on loopback), and one
 * `pixelift worker` node in this process beside the API node.
 */
export type TestBackend = 'embedded' | 'scale-out';
export const TEST_BACKENDS: readonly TestBackend[] = ['embedded', 'scale-out'];

/** Converted models are shared by every service test (conversion takes seconds; each is verified on load). */
export const SHARED_MODEL_CACHE = path.join(os.tmpdir(), 'pixelift-test-model-cache');

export interface TestService extends RunningService {
  readonly config: Config;
  readonly dataDir: string;
  readonly backend: TestBackend;
  /** The scale-out worker node (undefined when embedded). */
  readonly worker: RunningWorker | undefined;
  /** fetch() relative to the service. */
  call(pathname: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
  /** A second set of stores over the service's database, to look behind the API (close it after). */
  openStores(): Promise<Stores>;
}

let s3: Promise<TestS3> | undefined;

/** The environment that puts a test service on the scale-out backends, isolated from every other test. */
export async function scaleOutEnv(): Promise<Record<string, string>> {
  s3 ??= startTestS3();
  return {
    PIXELIFT_DATABASE_URL: TEST_DATABASE_URL,
    PIXELIFT_DATABASE_SCHEMA: testSchema(),
    PIXELIFT_REDIS_URL: TEST_REDIS_URL,
    PIXELIFT_REDIS_PREFIX: testRedisPrefix(),
    PIXELIFT_S3_URL: `${(await s3).url}/${testRedisPrefix()}`,
    // Short enough that a test sees a dead worker's job move on within seconds.
    PIXELIFT_WORKER_LOCK: '2',
    PIXELIFT_RECONCILE_INTERVAL: '1',
  };
}

export async function startTestService(
  env: Record<string, string> = {},
  backend: TestBackend = 'embedded',
): Promise<TestService> {
  const dataDir = tempDir('pixelift-svc-');
  const backendEnv = backend === 'scale-out' ? await scaleOutEnv() : {};
  const config = loadConfig(
    {
      PIXELIFT_DATA_DIR: dataDir,
      PIXELIFT_PORT: '0',
      PIXELIFT_WORKERS: '1',
      PIXELIFT_THREADS: '2',
      PIXELIFT_DEVICE: 'cpu',
      PIXELIFT_LOG_LEVEL: 'silent',
      ...backendEnv,
      ...env,
    },
    { modelCacheDir: SHARED_MODEL_CACHE },
  );
  const logger = pino({ level: 'silent' });
  const service = await startService(config, logger);
  let worker: RunningWorker | undefined;
  try {
    worker = backend === 'scale-out' ? await startWorkerNode(config, logger) : undefined;
  } catch (err) {
    await service.close(0);
    throw err;
  }
  const call = (pathname: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${service.url}${pathname}`, {
      ...rest,
      headers,
      body: json !== undefined ? JSON.stringify(json) : rest.body,
    });
  };
  const closeService = service.close.bind(service);
  const scaleOut = config.scaleOut;
  return Object.assign(service, {
    config,
    dataDir,
    backend,
    worker,
    call,
    close: async (graceMs?: number) => {
      await Promise.all([closeService(graceMs), worker?.close(graceMs)]);
    },
    openStores: async (): Promise<Stores> =>
      scaleOut
        ? openPostgresStores({ url: scaleOut.databaseUrl, schema: scaleOut.databaseSchema, max: 2 })
        : openSqliteStores(path.join(dataDir, 'pixelift.db')),
  });
}

/** A small photo-like PNG (gradients and a square), w×h. */
export function testPng(width = 48, height = 32): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x > width / 4 && x < width / 2 && y > height / 4 && y < (3 * height) / 4;
      raw[i] = inSquare ? 250 : Math.round((255 * x) / width);
      raw[i + 1] = Math.round((255 * y) / height);
      raw[i + 2] = inSquare ? 20 : 128;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
}

export function dataUri(png: Buffer): string {
  return `data:image/png;base64,${png.toString('base64')}`;
}

/** Read server-sent events until `until` says stop; returns them parsed. */
export async function readSse(
  url: string,
  init: RequestInit,
  until: (e: { id: number; event: string; data: Record<string, unknown> }) => boolean,
  timeoutMs = 30_000,
): Promise<{ id: number; event: string; data: Record<string, unknown> }[]> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const events: { id: number; event: string; data: Record<string, unknown> }[] = [];
  try {
    const res = await fetch(url, { ...init, signal: controller.signal });
    if (!res.ok || !res.body) throw new Error(`SSE ${url}: ${res.status} ${await res.text()}`);
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      for (let cut = buf.indexOf('\n\n'); cut >= 0; cut = buf.indexOf('\n\n')) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(':');
          if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
        }
        if (fields.event === undefined || fields.data === undefined) continue;
        const e = {
          id: Number(fields.id),
          event: fields.event,
          data: JSON.parse(fields.data) as Record<string, unknown>,
        };
        events.push(e);
        if (until(e)) return events;
      }
    }
    return events;
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
}

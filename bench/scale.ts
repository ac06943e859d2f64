/**
 * bench:scale — the embedded and the scale-out path side by side, in this one process, on this
 * machine's real PostgreSQL and Redis and an S3 server (s3rver) on loopback:
 *
 *   1. throughput: N realesrgan-x4fast jobs (96×96 → 384×384) submitted at once; jobs/s from
 *      the first submission to the last success, embedded (1 worker × all cores' threads) and
 *      scale-out with 1 and 2 `pixelift worker` nodes (the cores shared out as threads);
 *   2. per-job overhead: lanczos3 jobs on a 32×32 PNG (inference ≈ 0) one after another,
 *      submitted with `Prefer: wait`, so the latency is the queue, store, blob and event path.
 *
 * The worker nodes run in this process (each with its own child-process pool, where inference
 * runs); a schema and a Redis key prefix of their own are removed at the end. Figures only.
 *
 *   npm run bench:scale [-- --jobs 12 --light 40]
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import S3rver from '@20minutes/s3rver';
import { Redis } from 'ioredis';
import pg from 'pg';
import { pino } from 'pino';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { type RunningService, startService } from '../src/server/boot.js';
import { type RunningWorker, startWorkerNode } from '../src/server/worker-node.js';
import { type Cell, fmt, formatTable } from './lib/table.js';

const MODEL_CACHE = path.join(os.tmpdir(), 'pixelift-bench-model-cache');
const DATABASE_URL = process.env.PIXELIFT_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.PIXELIFT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const CORES = os.availableParallelism();

const { values: argv } = parseArgs({
  options: { jobs: { type: 'string', default: '12' }, light: { type: 'string', default: '40' } },
});
const heavyJobs = Number(argv.jobs);
const lightJobs = Number(argv.light);
for (const [name, v] of [
  ['--jobs', heavyJobs],
  ['--light', lightJobs],
] as const) {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`Expected a positive integer for ${name} but received ${v}`);
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
type Json = Record<string, any>;
const log = pino({ level: 'silent' });

interface Setup {
  readonly name: string;
  readonly api: RunningService;
  readonly workers: RunningWorker[];
  close(): Promise<void>;
}

async function png(side: number): Promise<string> {
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i >> 7)) & 255;
  const data = await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${data.toString('base64')}`;
}

async function start(name: string, env: Record<string, string>, workerNodes: number): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-scale-'));
  const threads = String(Math.max(1, Math.floor(CORES / Math.max(1, workerNodes))));
  const config = loadConfig(
    {
      PIXELIFT_DATA_DIR: dataDir,
      PIXELIFT_PORT: '0',
      PIXELIFT_WORKERS: '1',
      PIXELIFT_THREADS: threads,
      PIXELIFT_DEVICE: 'cpu',
      PIXELIFT_LOG_LEVEL: 'silent',
      PIXELIFT_MAX_QUEUE_DEPTH: '100000',
      PIXELIFT_RATE_LIMIT: '1000000',
      ...env,
    },
    { modelCacheDir: MODEL_CACHE },
  );
  const api = await startService(config, log);
  const workers: RunningWorker[] = [];
  for (let i = 0; i < workerNodes; i++) workers.push(await startWorkerNode(config, log));
  return {
    name,
    api,
    workers,
    close: async () => {
      await Promise.all([api.close(0), ...workers.map((w) => w.close(0))]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function call(s: Setup, pathname: string, init: RequestInit & { json?: unknown } = {}): Promise<Json> {
  const { json, ...rest } = init;
  const res = await fetch(`${s.api.url}${pathname}`, {
    ...rest,
    headers: { ...(json ? { 'content-type': 'application/json' } : {}), ...(rest.headers as object) },
    body: json ? JSON.stringify(json) : rest.body,
  });
  return (await res.json()) as Json;
}

async function throughput(s: Setup, image: string): Promise<number> {
  // Warm-up: the first job of each worker loads the model.
  await Promise.all(
    Array.from({ length: Math.max(1, s.workers.length) }, () =>
      call(s, '/v1/upscale', {
        method: 'POST',
        headers: { prefer: 'wait=120' },
        json: { image, model: 'realesrgan-x4fast' },
      }),
    ),
  );
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from(
      { length: heavyJobs },
      async () =>
        (await call(s, '/v1/upscale', { method: 'POST', json: { image, model: 'realesrgan-x4fast' } }))
          .id as string,
    ),
  );
  for (const id of ids) {
    for (;;) {
      const job = await call(s, `/v1/jobs/${id}`);
      if (job.status === 'succeeded') break;
      if (job.status !== 'queued' && job.status !== 'running')
        throw new Error(`${id}: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return heavyJobs / ((performance.now() - t0) / 1000);
}

async function perJobMs(s: Setup, image: string): Promise<{ median: number; p90: number }> {
  const light = { image, model: 'lanczos3', scale: 2 };
  await call(s, '/v1/upscale', { method: 'POST', headers: { prefer: 'wait=60' }, json: light });
  const times: number[] = [];
  for (let i = 0; i < lightJobs; i++) {
    const t0 = performance.now();
    const job = await call(s, '/v1/upscale', { method: 'POST', headers: { prefer: 'wait=60' }, json: light });
    if (job.status !== 'succeeded') throw new Error(`light job: ${JSON.stringify(job)}`);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)]!, p90: times[Math.floor(times.length * 0.9)]! };
}

async function main(): Promise<void> {
  const schema = `pixelift_bench_${randomBytes(4).toString('hex')}`;
  const prefix = `pixelift-bench-${randomBytes(4).toString('hex')}`;
  const s3Dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-s3-'));
  const s3 = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    allowMismatchedSignatures: true,
    directory: s3Dir,
    configureBuckets: [{ name: 'bench', configs: [] }],
  });
  const { port } = (await s3.run()) as AddressInfo;
  const scaleOutEnv = (n: number) => ({
    PIXELIFT_DATABASE_URL: DATABASE_URL,
    PIXELIFT_DATABASE_SCHEMA: `${schema}_${n}`,
    PIXELIFT_REDIS_URL: REDIS_URL,
    PIXELIFT_REDIS_PREFIX: `${prefix}-${n}`,
    PIXELIFT_S3_URL: `http://S3RVER:S3RVER@127.0.0.1:${port}/bench/${n}`,
  });
  const heavy = await png(96);
  const light = await png(32);
  const rows: Cell[][] = [];
  const results: Record<string, { jobsPerS: number; median: number; p90: number }> = {};
  try {
    for (const [name, env, nodes] of [
      ['embedded (SQLite, fs, 1 worker)', {}, 0],
      ['scale-out, 1 worker process', scaleOutEnv(1), 1],
      ['scale-out, 2 worker processes', scaleOutEnv(2), 2],
    ] as const) {
      const setup = await start(name, env, nodes);
      try {
        const jobsPerS = await throughput(setup, heavy);
        const { median, p90 } = await perJobMs(setup, light);
        results[name] = { jobsPerS, median, p90 };
        const threads = Math.max(1, Math.floor(CORES / Math.max(1, nodes)));
        rows.push([name, `${Math.max(1, nodes)} × ${threads}`, fmt(jobsPerS), fmt(median), fmt(p90)]);
      } finally {
        await setup.close();
      }
    }
  } finally {
    await s3.close();
    fs.rmSync(s3Dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    for (const n of [1, 2]) await client.query(`DROP SCHEMA IF EXISTS ${schema}_${n} CASCADE`);
    await client.end();
    const redis = new Redis(REDIS_URL);
    for (const n of [1, 2]) {
      const keys = await redis.keys(`${prefix}-${n}:*`);
      if (keys.length > 0) await redis.del(...keys);
    }
    redis.disconnect();
  }
  console.log(
    `bench:scale on ${CORES} cores (${os.cpus()[0]?.model ?? 'cpu'}); ${heavyJobs} realesrgan-x4fast jobs 96×96 → 384×384; ${lightJobs} lanczos3 jobs 32×32 ×2 with Prefer: wait\n`,
  );
  console.log(
    formatTable(
      ['setup', 'workers × threads', 'x4fast jobs/s', 'light job ms (median)', 'light job ms (p90)'],
      rows,
    ),
  );
  const base = results['embedded (SQLite, fs, 1 worker)']!;
  const one = results['scale-out, 1 worker process']!;
  const two = results['scale-out, 2 worker processes']!;
  console.log(
    `\nscale-out / embedded, 1 worker: throughput ×${fmt(one.jobsPerS / base.jobsPerS)}, per-job latency ×${fmt(one.median / base.median)} (+${fmt(one.median - base.median)} ms per job)`,
  );
  console.log(`scale-out 2 workers / 1 worker: throughput ×${fmt(two.jobsPerS / one.jobsPerS)}`);
}

await main();

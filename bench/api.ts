/**
 * bench:api — the real service in this process (SQLite, filesystem blobs, one worker, loopback):
 *
 *   1. job creation (POST /v1/upscale, lanczos3 on a 64×64 PNG) at 10 and 50 connections;
 *   2. a read path (GET /v1/jobs/:id) at 10 and 50 connections, workers idle;
 *   3. the same read at 10 connections while the worker is saturated with realesrgan-x4fast
 *      jobs (384×384 ×4), with the server's event-loop delay.
 *
 * Load comes from autocannon in a worker thread, so the event-loop delay measured here
 * (monitorEventLoopDelay in the main thread) is the server's, not the load generator's; both
 * still share the machine's cores with the inference child. Figures only, nothing asserted.
 *
 *   npm run bench:api [-- --duration 10 --heavy N (default: enough to outlast the window)]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type EventLoopUtilization, type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { pino } from 'pino';
import sharp from 'sharp';
import { loadConfig } from '../src/config.js';
import { type RunningService, startService } from '../src/server/boot.js';
import { syntheticImage } from './lib/synthetic-image.js';
import { type Cell, fmt, formatTable } from './lib/table.js';

/** Converted models survive between runs (the first conversion of realesrgan-x4fast takes seconds). */
const MODEL_CACHE = path.join(os.tmpdir(), 'pixelift-bench-model-cache');
/** monitorEventLoopDelay samples every this many ms; an idle loop reads about this much. */
const LOOP_RESOLUTION_MS = 10;
const LIGHT = { model: 'lanczos3', scale: 2, side: 64 } as const;
const HEAVY = { model: 'realesrgan-x4fast', scale: 4, side: 384 } as const;
/** Heavy jobs keep the worker busy this much longer than the measured window, s. */
const SATURATION_MARGIN_S = 5;
/** Cancels in flight at once when the queue is emptied between phases. */
const CANCEL_CONCURRENCY = 8;

const { values: argv } = parseArgs({
  options: { duration: { type: 'string', default: '10' }, heavy: { type: 'string' } },
});
const duration = Number(argv.duration);
if (!Number.isFinite(duration) || duration <= 0) {
  throw new RangeError(`Expected a positive number of seconds for --duration but received ${argv.duration}`);
}
const heavyArg = argv.heavy === undefined ? undefined : Number(argv.heavy);
if (heavyArg !== undefined && !(Number.isInteger(heavyArg) && heavyArg > 0)) {
  throw new RangeError(`Expected a positive integer for --heavy but received ${argv.heavy}`);
}

// biome-ignore lint/suspicious/noExplicitAny: response bodies are read field by field
type Json = Record<string, any>;

interface LoadRow {
  readonly phase: string;
  readonly result: autocannon.Result;
  readonly loop: LoopDelay;
  /** Jobs queued when the load stopped (job-creation phases). */
  readonly queuedAfter?: number;
}

interface LoopDelay {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Share of the window the event loop was busy (performance.eventLoopUtilization). */
  readonly utilization: number;
}

const coldCache = !fs.existsSync(MODEL_CACHE) || fs.readdirSync(MODEL_CACHE).length === 0;
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelift-bench-api-'));
const config = loadConfig(
  {
    PIXELIFT_DATA_DIR: dataDir,
    PIXELIFT_HOST: '127.0.0.1',
    PIXELIFT_PORT: '0',
    PIXELIFT_WORKERS: '1',
    PIXELIFT_DEVICE: 'cpu',
    PIXELIFT_LOG_LEVEL: 'silent',
    // Limits that would turn load into 429/503 are lifted: the bench measures the paths, not the guards.
    PIXELIFT_RATE_LIMIT: '10000000',
    PIXELIFT_MAX_QUEUE_DEPTH: '10000000',
    PIXELIFT_MAX_JOBS_PER_KEY: '1000',
  },
  { modelCacheDir: MODEL_CACHE },
);
const service = await startService(config, pino({ level: 'silent' }));
try {
  await run(service);
} finally {
  await service.close(1000);
  fs.rmSync(dataDir, { recursive: true, force: true });
}

async function run(svc: RunningService): Promise<void> {
  const call = async (pathname: string, init: { method?: string; json?: unknown } = {}) => {
    const res = await fetch(`${svc.url}${pathname}`, {
      method: init.method ?? 'GET',
      headers: init.json === undefined ? {} : { 'content-type': 'application/json' },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    return { status: res.status, body: (await res.json()) as Json };
  };
  const submit = async (json: Json): Promise<Json> => {
    const { status, body } = await call('/v1/upscale', { method: 'POST', json });
    if (status !== 202) throw new Error(`POST /v1/upscale answered ${status}: ${JSON.stringify(body)}`);
    return body;
  };
  const waitFor = async (id: string, statuses: readonly string[], timeoutMs: number): Promise<Json> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await call(`/v1/jobs/${id}`);
      if (statuses.includes(body.status)) return body;
      if (['failed', 'canceled', 'expired'].includes(body.status)) {
        throw new Error(`job ${id} ended ${body.status}: ${JSON.stringify(body.error)}`);
      }
      if (Date.now() > end) throw new Error(`job ${id} still ${body.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const metric = async (name: string, labels: string): Promise<number> => {
    const text = await (await fetch(`${svc.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
  };
  const cancel = async (id: string): Promise<boolean> =>
    (await call(`/v1/jobs/${id}/cancel`, { method: 'POST' })).status === 200;
  /** Cancel every queued job (first page again each time: cancelled jobs leave the list). */
  const emptyQueue = async (): Promise<{ canceled: number; ms: number }> => {
    const t0 = performance.now();
    let canceled = 0;
    for (;;) {
      const { body } = await call('/v1/jobs?status=queued&limit=100');
      const ids = (body.data as Json[]).map((j) => j.id as string);
      if (ids.length === 0) break;
      for (let i = 0; i < ids.length; i += CANCEL_CONCURRENCY) {
        const done = await Promise.all(ids.slice(i, i + CANCEL_CONCURRENCY).map(cancel));
        canceled += done.filter(Boolean).length;
      }
    }
    return { canceled, ms: performance.now() - t0 };
  };

  const lightBody = JSON.stringify({ image: await pngDataUri(LIGHT.side, 1), model: LIGHT.model, scale: 2 });
  const heavyRequest = { image: await pngDataUri(HEAVY.side, 2), model: HEAVY.model, scale: HEAVY.scale };

  console.error(`bench:api — service at ${svc.url}; warming up ${HEAVY.model} (converts on first use)…`);
  const t0 = performance.now();
  await waitFor((await submit(heavyRequest)).id, ['succeeded'], 600_000);
  const warmupS = (performance.now() - t0) / 1000;
  const timed = await waitFor((await submit(heavyRequest)).id, ['succeeded'], 600_000);
  const heavyJobS = timed.timings.run_ms / 1000;

  const idleLoop = await idleDelay(Math.min(duration, 3) * 1000);
  const rows: LoadRow[] = [];
  const drains: string[] = [];
  for (const connections of [10, 50]) {
    console.error(`POST /v1/upscale, ${connections} connections, ${duration} s…`);
    const { result, loop } = await load(`${svc.url}/v1/upscale`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: lightBody,
      connections,
    });
    const queuedAfter = await metric('pixelift_jobs', 'status="queued"');
    rows.push({ phase: `POST /v1/upscale (${LIGHT.model})`, result, loop, queuedAfter });
    const drained = await emptyQueue();
    drains.push(
      `after ${connections} connections: ${drained.canceled} queued jobs canceled in ${fmt(drained.ms / 1000)} s (${fmt(drained.canceled / (drained.ms / 1000))}/s at ${CANCEL_CONCURRENCY} in flight)`,
    );
  }

  const readPath = `${svc.url}/v1/jobs/${timed.id}`;
  for (const connections of [10, 50]) {
    console.error(`GET /v1/jobs/:id, ${connections} connections, ${duration} s…`);
    const { result, loop } = await load(readPath, { connections });
    rows.push({ phase: 'GET /v1/jobs/:id (workers idle)', result, loop });
  }

  const heavyCount = heavyArg ?? Math.max(3, Math.ceil((duration + SATURATION_MARGIN_S) / heavyJobS) + 1);
  console.error(`saturating the worker with ${heavyCount} ${HEAVY.model} jobs, GET at 10 connections…`);
  const heavyIds: string[] = [];
  for (let i = 0; i < heavyCount; i++) heavyIds.push((await submit(heavyRequest)).id);
  await waitFor(heavyIds[0]!, ['running', 'succeeded'], 60_000);
  const saturated = await load(readPath, { connections: 10 });
  const busyAtEnd = await metric('pixelift_workers', 'state="busy"');
  rows.push({ phase: `GET /v1/jobs/:id (worker busy: ${HEAVY.model})`, ...saturated });
  let heavyCanceled = 0;
  for (const id of heavyIds) if (await cancel(id)) heavyCanceled++;
  const heavyDone = heavyCount - heavyCanceled;

  console.log(
    `\nbench:api — ${os.availableParallelism()} cores, Node ${process.version}, ${config.workers} worker × ${config.threads} threads, SQLite + fs blobs, loopback, ${duration} s per run`,
  );
  console.log(
    `light job: ${LIGHT.model} ×${LIGHT.scale} on ${LIGHT.side}×${LIGHT.side} PNG (${lightBody.length} B body); heavy job: ${HEAVY.model} ×${HEAVY.scale} on ${HEAVY.side}×${HEAVY.side}`,
  );
  console.log(
    `heavy job: first one ${fmt(warmupS)} s end to end (${coldCache ? 'cold model cache: includes the ONNX conversion' : 'model cache warm'}), then ${fmt(heavyJobS)} s run time\n`,
  );
  // autocannon's latency histogram has 1 ms resolution, so its figures are whole ms.
  const ms = (v: number) => v.toFixed(0);
  console.log(
    formatTable(
      ['path', 'conns', 'req/s', 'p50 ms', 'p97.5 ms', 'p99 ms', '2xx', 'non-2xx', 'errors', 'queued after'],
      rows.map((r): Cell[] => [
        r.phase,
        r.result.connections,
        fmt(r.result.requests.mean),
        ms(r.result.latency.p50),
        ms(r.result.latency.p97_5),
        ms(r.result.latency.p99),
        r.result['2xx'],
        r.result.non2xx,
        r.result.errors,
        r.queuedAfter ?? '–',
      ]),
    ),
  );
  console.log(
    `\nevent-loop delay of the server (this process), ms beyond the ${LOOP_RESOLUTION_MS} ms sampling interval:\n`,
  );
  const loopRow = (phase: string, d: LoopDelay): Cell[] => [
    phase,
    fmt(d.p50),
    fmt(d.p99),
    fmt(d.max),
    `${(d.utilization * 100).toFixed(0)}%`,
  ];
  console.log(
    formatTable(
      ['during', 'p50', 'p99', 'max', 'loop busy'],
      [
        loopRow('idle (no load, workers idle)', idleLoop),
        ...rows.map((r) => loopRow(`${r.phase}, ${r.result.connections} conns`, r.loop)),
      ],
    ),
  );
  const codes = rows
    .filter((r) => r.result.non2xx > 0)
    .map((r) => `${r.phase} c${r.result.connections}: ${JSON.stringify(r.result.statusCodeStats)}`);
  if (codes.length > 0) console.log(`\nnon-2xx status codes:\n  ${codes.join('\n  ')}`);
  console.log(`\nqueue emptied between runs (POST /v1/jobs/:id/cancel):\n  ${drains.join('\n  ')}`);
  console.log(
    `saturation: ${heavyCount} heavy jobs submitted, ${heavyDone} finished during the run, ${heavyCanceled} canceled after; workers busy when the load stopped: ${busyAtEnd}`,
  );
}

/** Run autocannon for `duration` s against `url`, with the event-loop delay over the same window. */
async function load(
  url: string,
  opts: Omit<autocannon.Options, 'url' | 'duration'>,
): Promise<{ result: autocannon.Result; loop: LoopDelay }> {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const elu = performance.eventLoopUtilization();
  h.enable();
  // A worker thread keeps the load generator off the event loop being measured.
  const result = await autocannon({ url, duration, workers: 1, ...opts });
  h.disable();
  return { result, loop: delayOf(h, performance.eventLoopUtilization(elu)) };
}

/** The event-loop delay with nothing to do, as a baseline. */
async function idleDelay(windowMs: number): Promise<LoopDelay> {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  const elu = performance.eventLoopUtilization();
  h.enable();
  await new Promise((r) => setTimeout(r, windowMs));
  h.disable();
  return delayOf(h, performance.eventLoopUtilization(elu));
}

/** The histogram records the whole time between samples; the delay is what exceeds the interval. */
function delayOf(h: IntervalHistogram, elu: EventLoopUtilization): LoopDelay {
  const ms = (ns: number) => Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS);
  return {
    p50: ms(h.percentile(50)),
    p99: ms(h.percentile(99)),
    max: ms(h.max),
    utilization: elu.utilization,
  };
}

/** A photo-like PNG side×side as a data URI. */
async function pngDataUri(side: number, seed: number): Promise<string> {
  const planar = syntheticImage(side, seed);
  const plane = side * side;
  const raw = Buffer.alloc(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) raw[i * 3 + c] = Math.round(planar[c * plane + i]! * 255);
  }
  const png = await sharp(raw, { raw: { width: side, height: side, channels: 3 } })
    .png()
    .toBuffer();
  return `data:image/png;base64,${png.toString('base64')}`;
}

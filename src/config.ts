/**
 * The only reader of the environment. `loadConfig()` reads PIXELIFT_* variables once,
 * validates them, fills defaults from one object and returns a frozen, typed Config.
 * Everything else receives the values it needs from here.
 */
import os from 'node:os';
import path from 'node:path';
import { defaultMemoryBudget, MIN_MEMORY_BUDGET, parseByteSize } from './engine/memory.js';
import { PixeliftError } from './errors.js';

export type Device = 'cpu' | 'webgpu' | 'auto';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'auto'];

/** What a network runs in; `auto`: int8 where it meets the quality bar (src/models/precision.ts). */
export type Precision = 'fp32' | 'int8' | 'auto';
export const PRECISIONS: readonly Precision[] = ['fp32', 'int8', 'auto'];

export type GraphOptimizationLevel = 'disabled' | 'basic' | 'extended' | 'layout' | 'all';
export const GRAPH_OPTIMIZATION_LEVELS: readonly GraphOptimizationLevel[] = [
  'disabled',
  'basic',
  'extended',
  'layout',
  'all',
];

export interface Limits {
  /** Largest input file, bytes. */
  readonly maxInputBytes: number;
  /** Largest input, megapixels (checked from the header, before decoding). */
  readonly maxInputMegapixels: number;
  /** Longest input side, pixels. */
  readonly maxSide: number;
  /** Largest output, megapixels. */
  readonly maxOutputMegapixels: number;
}

export interface Config {
  /** Root of everything Pixelift writes (model cache, jobs, blobs). */
  readonly dataDir: string;
  /** Where users drop their own models (.onnx + manifest, or ncnn .param/.bin). */
  readonly modelsDir: string;
  /** Converted ONNX files, keyed by a hash of their sources. */
  readonly modelCacheDir: string;
  /** Largest .pth/.safetensors model file accepted, bytes; refused before it is read. */
  readonly maxModelBytes: number;
  /** PIXELIFT_FACE_MODEL: id of the installed face model faces are restored with by default. */
  readonly faceModel?: string;
  /** PIXELIFT_PRECISION: what a request that names no precision runs in (src/models/precision.ts). */
  readonly precision: Precision;
  readonly device: Device;
  /** Worker processes that run inference (each holds its own sessions). */
  readonly workers: number;
  /** onnxruntime intra-op threads per session (per worker). */
  readonly threads: number;
  /**
   * Tile side in input pixels for every model, tiling the whole network with context; unset:
   * networks that can be cut into segments are tiled exactly within `memoryBudget`.
   */
  readonly tile: number | undefined;
  /** PIXELIFT_TILING: `exact` segment-wise tiling (default) or `context`, the escape hatch (see engine/pipeline.ts). */
  readonly tiling: 'exact' | 'context';
  /** Working memory for one image's inference in each worker, bytes (PIXELIFT_MEMORY_BUDGET). */
  readonly memoryBudget: number;
  readonly limits: Limits;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  readonly host: string;
  readonly port: number;
  /** PIXELIFT_API_KEYS entries, `key` or `key:credits` (credits: the starting balance). */
  readonly apiKeys: readonly ConfigKey[];
  readonly allowPrivateUrls: boolean;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly s3Url: string | undefined;
  /** Set when PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL and PIXELIFT_S3_URL all are (DESIGN §5). */
  readonly scaleOut: ScaleOutSettings | undefined;
  readonly logLevel: string;
  /** `json` (pino lines) or `pretty` (one readable line); the CLI defaults to pretty. */
  readonly logFormat: 'json' | 'pretty' | undefined;
  readonly service: ServiceSettings;
}

export interface ConfigKey {
  readonly secret: string;
  /** Starting credits; null: unlimited. */
  readonly credits: number | null;
}

/** The scale-out backends: PostgreSQL, Redis (BullMQ queue, events), S3 (blobs). */
export interface ScaleOutSettings {
  readonly databaseUrl: string;
  /** PostgreSQL schema holding Pixelift's tables (created when missing). */
  readonly databaseSchema: string;
  readonly redisUrl: string;
  /** Every Redis key and channel Pixelift uses starts with `<prefix>:`. */
  readonly redisPrefix: string;
  readonly s3Url: string;
  /**
   * A worker holds each job's lock this long and renews it every half of it (its heartbeat);
   * a job whose worker stops renewing is handed to another worker, s.
   */
  readonly lockSeconds: number;
  /** How often a worker re-enqueues jobs that PostgreSQL holds as queued but the queue lost, s. */
  readonly reconcileSeconds: number;
}

/** `pixelift serve` settings. */
export interface ServiceSettings {
  /** Base of the URLs the server hands out (signed file links); default http://host:port. */
  readonly publicUrl: string | undefined;
  /** Standard Webhooks secret (`whsec_…`); unset: generated once and kept in the data dir. */
  readonly webhookSecret: string | undefined;
  /** HMAC key for signed file URLs; unset: generated once and kept in the data dir. */
  readonly urlSigningSecret: string | undefined;
  /** Runflow dialect: key of the `Runflow-Signature` header on callbacks; unset: callbacks are unsigned, as on Runflow. */
  readonly runflowSigningSecret: string | undefined;
  /** Longest `Prefer: wait=N` honoured, s. */
  readonly maxWaitSeconds: number;
  /** Queued jobs beyond which submissions get 503 queue_full. */
  readonly maxQueueDepth: number;
  /** Queued jobs of one key beyond which its submissions get 429 key_queue_full (its share of the queue). */
  readonly maxQueuedPerKey: number;
  /** Tasks one request may carry (Runware's task arrays); each counts against the rate limit. */
  readonly maxTasksPerRequest: number;
  /** Requests per minute per key (per client address in open mode); a batch counts each task. */
  readonly rateLimitPerMinute: number;
  /** Jobs of one key running at once (default: the worker count); more wait in the queue, never rejected. */
  readonly maxRunningPerKey: number;
  /** Default time a result is kept after its job ends, s. */
  readonly resultTtlSeconds: number;
  /** Longest TTL a request may ask for, s. */
  readonly maxResultTtlSeconds: number;
  /** Runs a job gets (crash-resume counts) before it fails with attempts_exhausted. */
  readonly maxAttempts: number;
  /** Take SVG input from clients (PIXELIFT_ALLOW_SVG); off: refused with image_format_refused. */
  readonly allowSvg: boolean;
  /** On SIGTERM/SIGINT, how long running jobs may take to finish before they are re-queued, s. */
  readonly shutdownGraceSeconds: number;
  /** SSE comment line interval, s. */
  readonly sseHeartbeatSeconds: number;
  readonly socket: SocketSettings;
}

/** WebSocket connections (Runware's SDK protocol at /compat/runware/v1). */
export interface SocketSettings {
  /** Largest frame a client may send, bytes; unset: the JSON body limit (an input as base64 fits). */
  readonly maxFrameBytes: number | undefined;
  /** Tasks one connection may have running at once; more are answered with an error at once. */
  readonly maxTasksPerConnection: number;
  /** Tasks one key may have running at once over all its connections to this node. */
  readonly maxTasksPerKey: number;
  /** A connection that has not authenticated by then is closed, s. */
  readonly authTimeoutSeconds: number;
  /** A connection that sent nothing for this long and has nothing running is closed, s. */
  readonly idleTimeoutSeconds: number;
  /** Bytes queued to a slow reader beyond which the server stops reading its frames until it catches up. */
  readonly maxBufferedBytes: number;
}

/** Defaults in one place; units in the comments. */
export const DEFAULTS = {
  dataDir: './data',
  device: 'auto' as Device,
  precision: 'auto' as Precision,
  /**
   * One worker per 4 cores, each with its share of the cores as onnxruntime threads: on 2
   * cores one worker with 2 threads (bench: two 1-thread sessions give the same throughput
   * at twice the latency), on 16 cores 4 workers x 4 threads.
   */
  workers: Math.max(1, Math.floor(os.availableParallelism() / 4)),
  threads: Math.max(
    1,
    Math.floor(os.availableParallelism() / Math.max(1, Math.floor(os.availableParallelism() / 4))),
  ),
  limits: {
    maxInputBytes: 50 * 1024 * 1024, // 50 MiB
    maxInputMegapixels: 50,
    maxSide: 16384, // px
    maxOutputMegapixels: 128,
  } satisfies Limits,
  // The largest super-resolution checkpoints in circulation (HAT-L, DAT) are ~160 MB in fp32;
  // a checkpoint is read whole, and its float32 weights take as much again.
  maxModelBytes: 1024 * 1024 * 1024, // 1 GiB
  /** 'all' turns on onnxruntime's NCHWc layout transform, the fastest CPU path measured here */
  graphOptimizationLevel: 'all' as GraphOptimizationLevel,
  service: {
    maxWaitSeconds: 60, // s; gateways commonly cut requests at 60 s
    maxQueueDepth: 1000, // jobs
    maxQueuedPerKey: 100, // jobs: a tenth of the default queue, so ten busy keys share it
    maxTasksPerRequest: 50, // tasks
    rateLimitPerMinute: 600, // requests per key
    resultTtlSeconds: 24 * 3600, // s (Replicate keeps 1 h, Topaz 7 d)
    maxResultTtlSeconds: 30 * 24 * 3600, // s
    maxAttempts: 3,
    shutdownGraceSeconds: 30, // s; below the usual 30-60 s a container manager waits before SIGKILL
    sseHeartbeatSeconds: 15, // s; under the 30-60 s idle timeouts of common proxies
  },
  socket: {
    maxTasksPerConnection: 16, // tasks; the SDK sends one per call, so 16 calls in flight at once
    maxTasksPerKey: 64, // tasks, per API node
    authTimeoutSeconds: 10, // s; the SDK authenticates as soon as the socket opens
    idleTimeoutSeconds: 300, // s; above the SDK's longest heartbeat interval (120 s)
    maxBufferedBytes: 16 * 1024 * 1024, // bytes
  },
  scaleOut: {
    databaseSchema: 'public',
    redisPrefix: 'pixelift',
    lockSeconds: 30, // s; BullMQ's default lock, renewed every 15 s
    reconcileSeconds: 30, // s
  },
  host: '127.0.0.1',
  port: 8080,
  logLevel: 'info',
};

type Env = Record<string, string | undefined>;

/**
 * The environment a worker child starts with: the parent's, plus glibc's malloc asked to back
 * its large blocks with transparent huge pages (`glibc.malloc.hugetlb=1`, glibc ≥ 2.35; older
 * ones ignore it, as does a kernel whose THP mode is `never`).
 *
 * Why: a segment session's first run on a large window faults in its whole arena 4 KiB page by
 * page (x4plus's trunk over a 640x427 photo: ~1 GB, ~250k faults). With huge pages that first
 * run took 39.3 / 40.2 s instead of 46.7 / 45.9 s, and warm runs 39.6 / 41.5 instead of 40.6 /
 * 43.3 s, at the same peak RSS (1.84–1.87 GB; bench/exact-ways.ts --ways=coarse, two pairs back
 * to back, load 1–2, 2 December 2026). Only the page size changes:
 * unlike keeping freed memory on the heap (mmap_max=0 and a high trim threshold, tried and
 * dropped: x4fast at 4 MP went 420 MB over its budget), nothing is held longer.
 *
 * A GLIBC_TUNABLES the user set is kept; one that already names hugetlb wins.
 */
export const HUGE_PAGES_TUNABLE = 'glibc.malloc.hugetlb=1';

export function workerEnv(env: Env = process.env): Env {
  const own = env.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(own)) return { ...env };
  return { ...env, GLIBC_TUNABLES: own ? `${own}:${HUGE_PAGES_TUNABLE}` : HUGE_PAGES_TUNABLE };
}

/** Read and validate configuration. `env` defaults to the process environment. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const dataDir = path.resolve(str(env, 'PIXELIFT_DATA_DIR') ?? DEFAULTS.dataDir);
  const workers = int(env, 'PIXELIFT_WORKERS', 1, 256) ?? DEFAULTS.workers;
  const config: Config = {
    dataDir,
    modelsDir: path.resolve(str(env, 'PIXELIFT_MODELS_DIR') ?? path.join(dataDir, 'models')),
    modelCacheDir: path.join(dataDir, 'cache', 'models'),
    device: oneOf(env, 'PIXELIFT_DEVICE', DEVICES) ?? DEFAULTS.device,
    workers,
    threads: int(env, 'PIXELIFT_THREADS', 1, 1024) ?? DEFAULTS.threads,
    tile: int(env, 'PIXELIFT_TILE', 16, 4096),
    tiling: oneOf(env, 'PIXELIFT_TILING', ['exact', 'context'] as const) ?? 'exact',
    memoryBudget: byteSize(env, 'PIXELIFT_MEMORY_BUDGET', MIN_MEMORY_BUDGET) ?? defaultMemoryBudget(workers),
    limits: Object.freeze({
      maxInputBytes: int(env, 'PIXELIFT_MAX_INPUT_BYTES', 1, 2 ** 40) ?? DEFAULTS.limits.maxInputBytes,
      maxInputMegapixels:
        num(env, 'PIXELIFT_MAX_INPUT_MEGAPIXELS', 0.001, 10_000) ?? DEFAULTS.limits.maxInputMegapixels,
      maxSide: int(env, 'PIXELIFT_MAX_SIDE', 1, 1_000_000) ?? DEFAULTS.limits.maxSide,
      maxOutputMegapixels:
        num(env, 'PIXELIFT_MAX_OUTPUT_MEGAPIXELS', 0.001, 100_000) ?? DEFAULTS.limits.maxOutputMegapixels,
    }),
    maxModelBytes: int(env, 'PIXELIFT_MAX_MODEL_BYTES', 1, 2 ** 40) ?? DEFAULTS.maxModelBytes,
    faceModel: str(env, 'PIXELIFT_FACE_MODEL')?.toLowerCase(),
    precision: oneOf(env, 'PIXELIFT_PRECISION', PRECISIONS) ?? DEFAULTS.precision,
    graphOptimizationLevel:
      oneOf(env, 'PIXELIFT_GRAPH_OPTIMIZATION', GRAPH_OPTIMIZATION_LEVELS) ?? DEFAULTS.graphOptimizationLevel,
    host: str(env, 'PIXELIFT_HOST') ?? DEFAULTS.host,
    port: int(env, 'PIXELIFT_PORT', 0, 65535) ?? DEFAULTS.port,
    apiKeys: parseKeys(str(env, 'PIXELIFT_API_KEYS')),
    allowPrivateUrls: bool(env, 'PIXELIFT_ALLOW_PRIVATE_URLS') ?? false,
    databaseUrl: str(env, 'PIXELIFT_DATABASE_URL'),
    redisUrl: str(env, 'PIXELIFT_REDIS_URL'),
    s3Url: str(env, 'PIXELIFT_S3_URL'),
    scaleOut: scaleOut(env),
    logLevel: str(env, 'PIXELIFT_LOG_LEVEL') ?? DEFAULTS.logLevel,
    logFormat: oneOf(env, 'PIXELIFT_LOG_FORMAT', ['json', 'pretty'] as const),
    service: Object.freeze({
      publicUrl: url(env, 'PIXELIFT_PUBLIC_URL'),
      webhookSecret: webhookSecret(env, 'PIXELIFT_WEBHOOK_SECRET'),
      urlSigningSecret: str(env, 'PIXELIFT_URL_SIGNING_SECRET'),
      runflowSigningSecret: str(env, 'PIXELIFT_RUNFLOW_SIGNING_SECRET'),
      maxWaitSeconds: int(env, 'PIXELIFT_MAX_WAIT', 0, 3600) ?? DEFAULTS.service.maxWaitSeconds,
      maxQueueDepth: int(env, 'PIXELIFT_MAX_QUEUE_DEPTH', 1, 10_000_000) ?? DEFAULTS.service.maxQueueDepth,
      maxQueuedPerKey:
        int(env, 'PIXELIFT_MAX_QUEUED_PER_KEY', 1, 10_000_000) ?? DEFAULTS.service.maxQueuedPerKey,
      maxTasksPerRequest:
        int(env, 'PIXELIFT_MAX_TASKS_PER_REQUEST', 1, 10_000) ?? DEFAULTS.service.maxTasksPerRequest,
      rateLimitPerMinute:
        int(env, 'PIXELIFT_RATE_LIMIT', 1, 10_000_000) ?? DEFAULTS.service.rateLimitPerMinute,
      // Default: every worker, so one user (open mode) is never held back; lower it to share fairly.
      // In scale-out the workers are other processes whose number this node cannot know: no cap.
      maxRunningPerKey:
        int(env, 'PIXELIFT_MAX_JOBS_PER_KEY', 1, 10_000) ??
        (str(env, 'PIXELIFT_DATABASE_URL') ? 10_000 : workers),
      resultTtlSeconds:
        int(env, 'PIXELIFT_RESULT_TTL', 1, 10 * 365 * 86400) ?? DEFAULTS.service.resultTtlSeconds,
      maxResultTtlSeconds:
        int(env, 'PIXELIFT_MAX_RESULT_TTL', 1, 10 * 365 * 86400) ?? DEFAULTS.service.maxResultTtlSeconds,
      maxAttempts: int(env, 'PIXELIFT_MAX_ATTEMPTS', 1, 100) ?? DEFAULTS.service.maxAttempts,
      allowSvg: bool(env, 'PIXELIFT_ALLOW_SVG') ?? false,
      shutdownGraceSeconds:
        num(env, 'PIXELIFT_SHUTDOWN_GRACE', 0, 24 * 3600) ?? DEFAULTS.service.shutdownGraceSeconds,
      sseHeartbeatSeconds:
        num(env, 'PIXELIFT_SSE_HEARTBEAT', 0.05, 3600) ?? DEFAULTS.service.sseHeartbeatSeconds,
      socket: socketSettings(env),
    }),
    ...overrides,
  };
  return Object.freeze(config);
}

function socketSettings(env: Env): SocketSettings {
  const d = DEFAULTS.socket;
  return Object.freeze({
    maxFrameBytes: int(env, 'PIXELIFT_WS_MAX_FRAME_BYTES', 1024, 2 ** 40),
    maxTasksPerConnection: int(env, 'PIXELIFT_WS_MAX_TASKS', 1, 100_000) ?? d.maxTasksPerConnection,
    maxTasksPerKey: int(env, 'PIXELIFT_WS_MAX_TASKS_PER_KEY', 1, 1_000_000) ?? d.maxTasksPerKey,
    authTimeoutSeconds: num(env, 'PIXELIFT_WS_AUTH_TIMEOUT', 0.05, 3600) ?? d.authTimeoutSeconds,
    idleTimeoutSeconds: num(env, 'PIXELIFT_WS_IDLE_TIMEOUT', 0.05, 24 * 3600) ?? d.idleTimeoutSeconds,
    maxBufferedBytes: int(env, 'PIXELIFT_WS_MAX_BUFFERED_BYTES', 1024, 2 ** 40) ?? d.maxBufferedBytes,
  });
}

/** All three backend URLs, or none: half a scale-out setup would silently run half embedded. */
function scaleOut(env: Env): ScaleOutSettings | undefined {
  const urls = {
    PIXELIFT_DATABASE_URL: str(env, 'PIXELIFT_DATABASE_URL'),
    PIXELIFT_REDIS_URL: str(env, 'PIXELIFT_REDIS_URL'),
    PIXELIFT_S3_URL: str(env, 'PIXELIFT_S3_URL'),
  };
  const missing = Object.entries(urls).filter(([, v]) => v === undefined);
  if (missing.length === 3) return undefined;
  if (missing.length > 0) {
    throw new PixeliftError('invalid_config', {
      param: missing[0]![0],
      message: `scale-out needs PIXELIFT_DATABASE_URL, PIXELIFT_REDIS_URL and PIXELIFT_S3_URL together; ${missing.map(([k]) => k).join(' and ')} unset`,
    });
  }
  const databaseUrl = urls.PIXELIFT_DATABASE_URL!;
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new PixeliftError('invalid_config', {
      param: 'PIXELIFT_DATABASE_URL',
      message: 'PIXELIFT_DATABASE_URL must be a postgres:// URL',
    });
  }
  const redisUrl = urls.PIXELIFT_REDIS_URL!;
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new PixeliftError('invalid_config', {
      param: 'PIXELIFT_REDIS_URL',
      message: 'PIXELIFT_REDIS_URL must be a redis:// or rediss:// URL',
    });
  }
  const d = DEFAULTS.scaleOut;
  return Object.freeze({
    databaseUrl,
    databaseSchema: matching(env, 'PIXELIFT_DATABASE_SCHEMA', /^[a-z_][a-z0-9_]{0,62}$/) ?? d.databaseSchema,
    redisUrl,
    redisPrefix: matching(env, 'PIXELIFT_REDIS_PREFIX', /^[A-Za-z0-9_.-]{1,64}$/) ?? d.redisPrefix,
    s3Url: urls.PIXELIFT_S3_URL!,
    lockSeconds: num(env, 'PIXELIFT_WORKER_LOCK', 1, 3600) ?? d.lockSeconds,
    reconcileSeconds: num(env, 'PIXELIFT_RECONCILE_INTERVAL', 0.1, 3600) ?? d.reconcileSeconds,
  });
}

function matching(env: Env, name: string, pattern: RegExp): string | undefined {
  const v = str(env, name);
  if (v === undefined || pattern.test(v)) return v;
  throw new PixeliftError('invalid_config', {
    param: name,
    message: `${name} must match ${pattern}, got "${v}"`,
  });
}

let cached: Config | undefined;
/** The process-wide configuration, read on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(env: Env, name: string, min: number, max: number): number | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be an integer in [${min}, ${max}], got "${v}"`,
    });
  }
  return n;
}

/** `a,b:100` → [{secret a, unlimited}, {secret b, 100 credits}]. */
function parseKeys(v: string | undefined): ConfigKey[] {
  const keys: ConfigKey[] = [];
  for (const entry of (v ?? '').split(',')) {
    const [secret, credits, ...rest] = entry.trim().split(':');
    if (!secret) continue;
    const n = credits === undefined ? null : Number(credits);
    if (rest.length > 0 || (n !== null && !(Number.isFinite(n) && n >= 0))) {
      throw new PixeliftError('invalid_config', {
        param: 'PIXELIFT_API_KEYS',
        message: `PIXELIFT_API_KEYS entries are "key" or "key:credits" (credits a number >= 0), got "${entry.trim()}"`,
      });
    }
    keys.push({ secret, credits: n });
  }
  return keys;
}

function url(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  if (!URL.canParse(v) || !/^https?:$/.test(new URL(v).protocol)) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be an http(s) URL, got "${v}"`,
    });
  }
  return v.replace(/\/+$/, '');
}

function webhookSecret(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const body = v.startsWith('whsec_') ? v.slice(6) : v;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || Buffer.from(body, 'base64').length < 16) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be a Standard Webhooks secret: "whsec_" + base64 of at least 16 bytes`,
    });
  }
  return `whsec_${body}`;
}

/** A size in bytes: `1536M`, `2G`, `1.5GiB` or a plain byte count, at least `min`. */
function byteSize(env: Env, name: string, min: number): number | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const n = parseByteSize(v);
  if (n === undefined || n < min) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be a size of at least ${min / 2 ** 20} MiB such as 2G or 1536M, got "${v}"`,
    });
  }
  return n;
}

function num(env: Env, name: string, min: number, max: number): number | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be a number in [${min}, ${max}], got "${v}"`,
    });
  }
  return n;
}

function bool(env: Env, name: string): boolean | undefined {
  const v = str(env, name)?.toLowerCase();
  if (v === undefined) return undefined;
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new PixeliftError('invalid_config', {
    param: name,
    message: `${name} must be true or false, got "${v}"`,
  });
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[]): T | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new PixeliftError('invalid_config', {
      param: name,
      message: `${name} must be one of ${allowed.join(', ')}, got "${v}"`,
    });
  }
  return v as T;
}

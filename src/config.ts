/**
 * The only reader of the environment. `loadConfig()` reads PIXELIFT_* variables once,
 * validates them, fills defaults from one object and returns a frozen, typed Config.
 * Everything else receives the values it needs from here.
 */
import os from 'node:os';
import path from 'node:path';
import { PixeliftError } from './errors.js';

export type Device = 'cpu' | 'webgpu' | 'auto';
export const DEVICES: readonly Device[] = ['cpu', 'webgpu', 'auto'];

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
  readonly device: Device;
  /** Worker processes that run inference (each holds its own sessions). */
  readonly workers: number;
  /** onnxruntime intra-op threads per session (per worker). */
  readonly threads: number;
  /** Tile side in input pixels for every model; unset: each model's own default. */
  readonly tile: number | undefined;
  readonly limits: Limits;
  readonly graphOptimizationLevel: GraphOptimizationLevel;
  readonly host: string;
  readonly port: number;
  readonly apiKeys: readonly string[];
  readonly allowPrivateUrls: boolean;
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  readonly s3Url: string | undefined;
  readonly logLevel: string;
  /** `json` (pino lines) or `pretty` (one readable line); the CLI defaults to pretty. */
  readonly logFormat: 'json' | 'pretty' | undefined;
}

/** Defaults in one place; units in the comments. */
export const DEFAULTS = {
  dataDir: './data',
  device: 'auto' as Device,
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
  /** 'all' turns on onnxruntime's NCHWc layout transform, the fastest CPU path measured here */
  graphOptimizationLevel: 'all' as GraphOptimizationLevel,
  host: '127.0.0.1',
  port: 8080,
  logLevel: 'info',
};

type Env = Record<string, string | undefined>;

/** Read and validate configuration. `env` defaults to the process environment. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const dataDir = path.resolve(str(env, 'PIXELIFT_DATA_DIR') ?? DEFAULTS.dataDir);
  const config: Config = {
    dataDir,
    modelsDir: path.resolve(str(env, 'PIXELIFT_MODELS_DIR') ?? path.join(dataDir, 'models')),
    modelCacheDir: path.join(dataDir, 'cache', 'models'),
    device: oneOf(env, 'PIXELIFT_DEVICE', DEVICES) ?? DEFAULTS.device,
    workers: int(env, 'PIXELIFT_WORKERS', 1, 256) ?? DEFAULTS.workers,
    threads: int(env, 'PIXELIFT_THREADS', 1, 1024) ?? DEFAULTS.threads,
    tile: int(env, 'PIXELIFT_TILE', 16, 4096),
    limits: Object.freeze({
      maxInputBytes: int(env, 'PIXELIFT_MAX_INPUT_BYTES', 1, 2 ** 40) ?? DEFAULTS.limits.maxInputBytes,
      maxInputMegapixels:
        num(env, 'PIXELIFT_MAX_INPUT_MEGAPIXELS', 0.001, 10_000) ?? DEFAULTS.limits.maxInputMegapixels,
      maxSide: int(env, 'PIXELIFT_MAX_SIDE', 1, 1_000_000) ?? DEFAULTS.limits.maxSide,
      maxOutputMegapixels:
        num(env, 'PIXELIFT_MAX_OUTPUT_MEGAPIXELS', 0.001, 100_000) ?? DEFAULTS.limits.maxOutputMegapixels,
    }),
    graphOptimizationLevel:
      oneOf(env, 'PIXELIFT_GRAPH_OPTIMIZATION', GRAPH_OPTIMIZATION_LEVELS) ?? DEFAULTS.graphOptimizationLevel,
    host: str(env, 'PIXELIFT_HOST') ?? DEFAULTS.host,
    port: int(env, 'PIXELIFT_PORT', 0, 65535) ?? DEFAULTS.port,
    apiKeys: (str(env, 'PIXELIFT_API_KEYS') ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter((k) => k.length > 0),
    allowPrivateUrls: bool(env, 'PIXELIFT_ALLOW_PRIVATE_URLS') ?? false,
    databaseUrl: str(env, 'PIXELIFT_DATABASE_URL'),
    redisUrl: str(env, 'PIXELIFT_REDIS_URL'),
    s3Url: str(env, 'PIXELIFT_S3_URL'),
    logLevel: str(env, 'PIXELIFT_LOG_LEVEL') ?? DEFAULTS.logLevel,
    logFormat: oneOf(env, 'PIXELIFT_LOG_FORMAT', ['json', 'pretty'] as const),
    ...overrides,
  };
  return Object.freeze(config);
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

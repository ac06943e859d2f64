/**
 * What the engine probes (bench/*-probe.ts, exact-ways, e2e) share: where the package and its
 * photos are, the options every one of them takes (model, photo, model cache), the decode limits
 * that let a benchmark feed any size, and the process figures they read.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SessionSettings } from '../../src/models/session.js';
import type { ModelStore } from '../../src/models/store.js';
import { benchStore } from './bench-store.js';

/** The package root (this file runs from dist/bench/lib). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** bench/photos (their sources and licences: bench/photos/README.md). */
export const PHOTOS_DIR = path.join(PACKAGE_ROOT, 'bench/photos');

export const photoPath = (name: string): string => path.join(PHOTOS_DIR, name);

/** The model cache every engine bench shares, so a model is converted and quantized once. */
export const BENCH_CACHE = path.join(os.tmpdir(), 'pixelift-bench-e2e-cache');

/** parseArgs options every probe takes; spread them into its own. */
export const PROBE_OPTIONS = {
  model: { type: 'string', default: 'realesrgan-x4fast' },
  photo: { type: 'string', default: 'rocket.jpg' },
  cache: { type: 'string', default: BENCH_CACHE },
} as const;

/** A store over the shared cache (bench-store.ts). */
export const probeStore = (
  cache: string = BENCH_CACHE,
  threads?: number,
  session?: Partial<SessionSettings>,
): ModelStore => benchStore(cache, PACKAGE_ROOT, threads, session);

/** Decode limits that let a benchmark feed any photo or enlargement. */
export const BENCH_LIMITS = {
  maxInputBytes: 2 ** 31,
  maxInputMegapixels: 1000,
  maxSide: 65535,
  maxOutputMegapixels: 100_000,
} as const;

/** A full collection when node runs with --expose-gc, else nothing. */
export const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** CPU time this process has used (user + system), ms. */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A /proc/self/status figure in bytes (VmRSS, VmHWM, …: the kernel gives kB). */
export function procStatus(key: string): number {
  const m = new RegExp(`${key}:\\s+(\\d+)`).exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`/proc/self/status has no ${key}`);
  return Number(m[1]) * 1024;
}

/** Reset the kernel's high-water mark (VmHWM) to the current RSS. */
export const resetPeak = (): void => fs.writeFileSync('/proc/self/clear_refs', '5');

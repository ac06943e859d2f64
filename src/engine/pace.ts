/**
 * How long a blocking network run should take, announced before it starts (issue 12).
 *
 * onnxruntime-node's `session.run()` holds the event loop of its process for the whole run:
 * x4fast over a 640x427 photo in one window ran 5.1 s without one tick of a 100 ms timer. The
 * engine runs small photos in one such run and large ones in a few long segment runs, so its
 * real progress reports come seconds apart, or only at the end. Before each long run it says
 * where progress is, where the run will take it, and how long it should take: the run's
 * multiply-adds over the rate this process measured on its earlier runs. A process whose event
 * loop is free (the worker pool's parent) moves the progress on in between
 * (src/workers/progress.ts).
 */
import type { RunPrecision } from '../models/precision.js';
import type { ResolvedDevice } from '../models/session.js';

/** A run about to block: job progress now and at its end (0..1), and its expected length. */
export interface RunEstimate {
  readonly from: number;
  readonly to: number;
  readonly expectedMs: number;
}

/** One blocking run: its multiply-adds, and the progress (0..1 of the caller's work) before and after it. */
export interface RunWork {
  readonly macs: number;
  readonly from: number;
  readonly to: number;
}

/** Runs `run`, the network run `work` describes, announcing and timing it. */
export type Pace = <T>(work: RunWork, run: () => Promise<T>) => Promise<T>;

/** No announcement, no timing (a caller with no use for estimates). */
export const unpaced: Pace = (_work, run) => run();

/**
 * Rates before any run was measured, multiply-adds a second, on the slow side: a bar that moves
 * too slowly and then jumps to the run's end reads better than one that waits at its end.
 * cpu: 2 idle AVX-512 cores run x4plus at ~160 GMAC/s (segmented.ts), 2 cores under a load
 * of 4 ran x4fast at ~73 (a 640x427 photo in one window, 3.7e11 multiply-adds, in 5.1 s);
 * webgpu was not measured here.
 */
const FIRST_RATE: Readonly<Record<ResolvedDevice, number>> = { cpu: 40e9, webgpu: 200e9 };
/** Runs shorter than this (ms) are mostly session overhead: they teach the rate nothing. */
const MIN_MEASURED_MS = 100;
/** Weight of the newest measurement in the learned rate (the machine's load changes). */
const NEWEST = 0.5;
/** Runs expected to take less than this (ms) are not announced: their end comes soon enough. */
export const ANNOUNCE_MS = 500;

/** Multiply-adds a second this process measured, per device and precision. */
export class RunRates {
  private readonly rates = new Map<string, number>();

  expectedMs(device: ResolvedDevice, precision: RunPrecision, macs: number): number {
    const rate = this.rates.get(`${device}/${precision}`) ?? FIRST_RATE[device];
    return (macs / rate) * 1000;
  }

  record(device: ResolvedDevice, precision: RunPrecision, macs: number, ms: number): void {
    if (!(ms >= MIN_MEASURED_MS) || !(macs > 0)) return;
    const key = `${device}/${precision}`;
    const measured = (macs / ms) * 1000;
    const before = this.rates.get(key);
    this.rates.set(key, before === undefined ? measured : NEWEST * measured + (1 - NEWEST) * before);
  }
}

/** This process's rates: a worker child keeps learning across its jobs. */
export const processRates = new RunRates();

/**
 * A Pace for runs on one device and precision: each run is timed into `rates`; one expected to
 * take ANNOUNCE_MS or more is announced first, its progress mapped by `toJob` to the job's.
 */
export function pace(
  rates: RunRates,
  device: ResolvedDevice,
  precision: RunPrecision,
  announce: ((estimate: RunEstimate) => void) | undefined,
  toJob: (fraction: number) => number = (f) => f,
): Pace {
  return async (work, run) => {
    const expectedMs = rates.expectedMs(device, precision, work.macs);
    if (announce && expectedMs >= ANNOUNCE_MS) {
      announce({ from: toJob(work.from), to: toJob(work.to), expectedMs: Math.round(expectedMs) });
    }
    const t0 = performance.now();
    const out = await run();
    rates.record(device, precision, work.macs, performance.now() - t0);
    return out;
  };
}

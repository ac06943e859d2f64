/**
 * Timing helpers: every figure the benches print is a median of several timed runs after
 * a warm-up, with the share of the machine's CPU time the process actually got, so a run
 * slowed by another tenant on the (2-core) machine shows up as such instead of as a regression.
 */
import os from 'node:os';

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty list');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface TimingPolicy {
  /** Timed runs at least (the acceptance figures need ≥3). */
  readonly minRuns: number;
  /** Timed runs at most. */
  readonly maxRuns: number;
  /** Runs are added up to maxRuns while their expected total stays under this, in ms. */
  readonly budgetMs: number;
  /** Untimed runs first (first run of a shape allocates and pre-packs). */
  readonly warmups: number;
}

export interface Timing {
  /** Median wall time of one run, ms. */
  readonly medianMs: number;
  readonly runsMs: readonly number[];
  readonly warmupMs: number;
  /** CPU time the process got over the timed runs ÷ (wall time × cores): 1.0 is the whole machine. */
  readonly cpuShare: number;
}

export const cores = (): number => os.availableParallelism();

/** Time `run` under `policy`; the number of timed runs adapts to how long the warm-up took. */
export async function timeRuns(run: () => Promise<unknown>, policy: TimingPolicy): Promise<Timing> {
  let warmupMs = 0;
  for (let i = 0; i < policy.warmups; i++) {
    const t = performance.now();
    await run();
    warmupMs = performance.now() - t;
  }
  const planned = Math.floor(policy.budgetMs / Math.max(warmupMs, 1));
  const count = Math.min(policy.maxRuns, Math.max(policy.minRuns, planned));
  const runsMs: number[] = [];
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await run();
    runsMs.push(performance.now() - t);
  }
  const cpu = process.cpuUsage(cpu0);
  const wall = performance.now() - wall0;
  return {
    medianMs: median(runsMs),
    runsMs,
    warmupMs,
    cpuShare: (cpu.user + cpu.system) / 1000 / (wall * cores()),
  };
}

/** Busy share of all cores over `ms`, from the kernel's per-CPU counters (os.cpus()). */
export async function machineBusy(ms = 300): Promise<number> {
  const total = () =>
    os.cpus().reduce(
      (acc, c) => {
        const t = c.times;
        acc.all += t.user + t.nice + t.sys + t.idle + t.irq;
        acc.idle += t.idle;
        return acc;
      },
      { all: 0, idle: 0 },
    );
  const a = total();
  await new Promise((r) => setTimeout(r, ms));
  const b = total();
  const all = b.all - a.all;
  return all > 0 ? 1 - (b.idle - a.idle) / all : 0;
}

export interface SettlePolicy {
  /** Give up waiting for an idle machine after this long, ms. */
  readonly maxWaitMs: number;
  /** Measure again (up to this many attempts in all) when the process got less CPU than expected. */
  readonly attempts: number;
  /** The cpuShare a run on an idle machine reaches (1 for all cores, 1/cores for one thread). */
  readonly expectedShare: number;
}

export interface SettledTiming extends Timing {
  readonly attempts: number;
  /** Time spent waiting for other processes to leave the CPU, ms. */
  readonly waitedMs: number;
}

/** A run counts as uncontended when it got at least this share of the CPU it could use. */
const UNCONTENDED = 0.9;

/**
 * `timeRuns`, but on a shared machine: wait (boundedly) until other processes leave the CPU,
 * and measure again when the process still got clearly less CPU than it could use. The least
 * contended attempt is returned, with how it was obtained.
 */
export async function timeSettled(
  run: () => Promise<unknown>,
  policy: TimingPolicy,
  settle: SettlePolicy,
): Promise<SettledTiming> {
  let best: Timing | undefined;
  let waitedMs = 0;
  let attempts = 0;
  while (attempts < settle.attempts) {
    attempts++;
    const t0 = performance.now();
    while (performance.now() - t0 < settle.maxWaitMs && (await machineBusy()) > 0.1) {
      // Polling only; machineBusy() already slept.
    }
    waitedMs += performance.now() - t0;
    const t = await timeRuns(run, policy);
    if (!best || t.cpuShare > best.cpuShare) best = t;
    if (t.cpuShare >= UNCONTENDED * settle.expectedShare) break;
  }
  return { ...best!, attempts, waitedMs };
}

/** One-minute load average, for the report header and footer. */
export const loadAverage = (): number => os.loadavg()[0]!;

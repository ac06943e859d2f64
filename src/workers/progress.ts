/**
 * A job's progress as its caller sees it, moving during the long network runs that block the
 * worker (src/engine/pace.ts): between the child's real reports, the parent, whose event loop
 * is free, moves progress from the run's start toward its end over the run's expected length.
 *
 * - It approaches the run's end but never reaches it: only the child's report says the run ended.
 * - It never goes backwards, and a real report always passes (unless it is below what was shown).
 */
import type { RunEstimate } from '../engine/pace.js';

/** How often an estimated progress moves, ms (a job's store throttles what it writes: runner.ts). */
export const TICK_MS = 250;
/** Share of a run's span shown by its expected end; the rest is approached ever more slowly. */
const BY_EXPECTED_END = 0.9;

/**
 * Progress `elapsedMs` into a run: linear to BY_EXPECTED_END of its span at `expectedMs`, then
 * a hyperbola with the same slope there that approaches the span's end without reaching it
 * (a run taking twice as long as expected shows 99 % of its span at its expected end × 2).
 */
export function interpolate(estimate: RunEstimate, elapsedMs: number): number {
  const { from, to } = estimate;
  const x = Math.max(0, elapsedMs) / Math.max(1, estimate.expectedMs);
  const rest = 1 - BY_EXPECTED_END;
  const share = x <= 1 ? BY_EXPECTED_END * x : 1 - rest / (1 + (BY_EXPECTED_END / rest) * (x - 1));
  return from + (to - from) * share;
}

/** Turns the child's reports and estimates into the progress a caller sees, via `emit`. */
export class InterpolatedProgress {
  private shown = 0;
  private run: { readonly estimate: RunEstimate; readonly startedAt: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly emit: (fraction: number) => void,
    private readonly now: () => number = () => performance.now(),
    private readonly tickMs = TICK_MS,
  ) {}

  /** The child's own report: the run it was in has ended. */
  report(fraction: number): void {
    this.run = undefined;
    this.show(fraction);
  }

  /** A run started in the child: progress moves toward its end until the next report. */
  estimate(estimate: RunEstimate): void {
    if (this.stopped) return;
    this.run = { estimate, startedAt: this.now() };
    this.show(estimate.from);
    // The timer never holds the process open: a busy child does that (pool.ts).
    this.timer ??= setInterval(() => this.tick(), this.tickMs).unref();
  }

  /** Moves an estimated progress on (the timer calls it every tickMs). */
  tick(): void {
    if (this.run) this.show(interpolate(this.run.estimate, this.now() - this.run.startedAt));
  }

  /** The job settled: nothing more is shown. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.run = undefined;
  }

  private show(fraction: number): void {
    if (this.stopped || !(fraction > this.shown)) return;
    this.shown = fraction;
    this.emit(fraction);
  }
}

/**
 * Exact tiled inference over a segmented network (issue 12): context is paid once per segment
 * boundary, not once per tile.
 *
 * The image is reflected by `border` px (so the network never sees a zero-padded edge inside
 * what is kept) and run segment by segment. Each segment runs over tiles of the area the
 * following segments still need, every tile with only that segment's own halo; the feature
 * maps between segments are kept whole at 1× in memory. A tile window clamped at the edge of
 * the (padded) image zero-pads there exactly as a whole-image run does, and the halo of a
 * window inside the image holds real values, so the result is the whole-image run's (up to
 * float summation order). When the whole-image feature maps would not fit the memory budget,
 * the image is cut into regions, each run with the network's full receptive field
 * (`totalHalo`) as context: still exact.
 */
import type { SegmentedRunner, Tile } from '../models/runner.js';
import type { Segment, SegmentPlan } from '../models/segments.js';
import { crop as reflectCrop, type Sink } from './tiles.js';

export interface SegmentedOptions {
  /** Bytes of working memory for this run (feature maps + onnxruntime), see memory.ts. */
  readonly budget: number;
  /** Reflected border, input px. */
  readonly border: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

/** onnxruntime's working memory for a window, over the live activations we count (measured). */
const RUNTIME_OVERHEAD = 2;
/** Share of the budget for the whole-image feature maps; the rest is for segment windows. */
const STORED_SHARE = 0.5;
const MIN_TILE = 32;

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** Pixels of one window of a segment that a working-memory budget allows. */
const windowPixels = (seg: Segment, workBytes: number) =>
  workBytes / (4 * RUNTIME_OVERHEAD * seg.liveChannels);

/** Tile side (without halo) for a segment on a w×h area; Infinity when the area fits one window. */
export function segmentTile(seg: Segment, workBytes: number, w: number, h: number): number {
  const pixels = windowPixels(seg, workBytes);
  if (w * h <= pixels) return Number.POSITIVE_INFINITY;
  return Math.max(MIN_TILE, Math.floor(Math.sqrt(pixels)) - 2 * seg.halo);
}

/** Bytes of whole-image feature maps a plan keeps per pixel (plus the input image). */
const storedPerPixel = (plan: SegmentPlan) => 4 * (plan.storedChannels + 3);

/** Region side (input px, without context) whose feature maps fit `storedBytes`; Infinity if any. */
export function regionSide(plan: SegmentPlan, storedBytes: number, width: number, height: number): number {
  if (width * height * storedPerPixel(plan) <= storedBytes) return Number.POSITIVE_INFINITY;
  const side = Math.floor(Math.sqrt(storedBytes / storedPerPixel(plan))) - 2 * plan.totalHalo;
  return Math.max(64, side);
}

/** How a budget splits between whole-image feature maps and segment windows, for an image. */
function split(plan: SegmentPlan, budget: number, width: number, height: number) {
  const whole = width * height * storedPerPixel(plan);
  const stored = whole <= budget * STORED_SHARE ? whole : budget * STORED_SHARE;
  // Each segment's session keeps an arena as large as its largest window (arena shrinkage
  // after a run did not release it in bench:e2e: rrdn-thick in 6 sessions peaked at 7.3 GB),
  // so the windows share the working memory.
  return { stored, work: (budget - stored) / plan.segments.length };
}

/**
 * Multiply-adds one window may take before progress would stall too long: onnxruntime-node's
 * run() holds the thread, so progress can only be reported between windows. Set so that photos
 * up to ~1 MP take the coarse cut (two sessions: less memory held, see split()); about 2 min
 * on 2 idle AVX-512 cores, which run x4plus at ~160 GMAC/s.
 */
export const ONE_WINDOW_MACS = 2e13;

/**
 * Whether the coarse cut (trunk | tail) runs an image with its reflected border in one window
 * per segment and quickly: then no halo is paid at all, and it is the fastest cut, since every
 * segment boundary costs onnxruntime time (x4plus at 200x150, CPU time over the whole graph's:
 * +8 % cut into 8 segments, +12 % into 24). Larger images take the fine cut, whose segments
 * report progress as they finish.
 */
export function fitsWhole(
  plan: SegmentPlan,
  budget: number,
  width: number,
  height: number,
  border: number,
): boolean {
  const [w, h] = [width + 2 * border, height + 2 * border];
  const { work } = split(plan, budget, w, h);
  if (regionSide(plan, budget * STORED_SHARE, w, h) !== Number.POSITIVE_INFINITY) return false;
  return plan.segments.every(
    (seg) => seg.scale !== 1 || (w * h <= windowPixels(seg, work) && w * h * seg.macs <= ONE_WINDOW_MACS),
  );
}

/** Upscale a whole RGB CHW image (0..1) with a segmented network, exactly, into `sink`. */
export async function runSegmented<T>(
  image: Tile,
  runner: SegmentedRunner,
  opts: SegmentedOptions,
  sink: Sink<T>,
): Promise<T> {
  const { width: W, height: H } = image;
  const s = runner.plan.scale;
  if (sink.width !== W * s || sink.height !== H * s) {
    throw new RangeError(`sink is ${sink.width}x${sink.height}, expected ${W * s}x${H * s}`);
  }
  const B = opts.border;
  const PW = W + 2 * B;
  const PH = H + 2 * B;
  const padded = runner.toNetwork(B === 0 ? image.data : reflectCrop(image, -B, -B, PW, PH));
  const { work } = split(runner.plan, opts.budget, PW, PH);
  const side = regionSide(runner.plan, opts.budget * STORED_SHARE, PW, PH);
  const ctx = runner.plan.totalHalo;

  // Plan every region and its work first, so progress is a fraction of the real total.
  const regions: { window: Box; box: Box; areas: Box[] }[] = [];
  for (const ry of starts(B, B + H, side)) {
    for (const rx of starts(B, B + W, side)) {
      const box = { x0: rx, y0: ry, x1: Math.min(B + W, rx + side), y1: Math.min(B + H, ry + side) };
      const window = {
        x0: Math.max(0, box.x0 - ctx),
        y0: Math.max(0, box.y0 - ctx),
        x1: Math.min(PW, box.x1 + ctx),
        y1: Math.min(PH, box.y1 + ctx),
      };
      regions.push({ window, box, areas: areas(runner.segments, window, box) });
    }
  }
  const cost = (seg: Segment, a: Box) => Math.max(1, seg.macs) * (a.x1 - a.x0) * (a.y1 - a.y0);
  const total = regions.reduce(
    (t, r) => t + runner.segments.reduce((u, seg, k) => u + cost(seg, r.areas[k]!), 0),
    0,
  );
  let done = 0;
  const progress: Progress = (c) => {
    done += c;
    opts.onProgress?.(done, total);
  };

  for (const r of regions) {
    const w = r.window.x1 - r.window.x0;
    const h = r.window.y1 - r.window.y0;
    const input =
      w === PW && h === PH ? padded : cropPlanes(padded, 3, PW, PH, r.window.x0, r.window.y0, w, h);
    await runRegion(runner, input, w, h, r, opts, work, progress, (out, ow, oh, ox, oy) => {
      // Tail output at window px (ox, oy) → the sink, without the border.
      const plane = ow * oh;
      const net = runner.fromNetwork(out);
      for (let y = 0; y < oh; y++) {
        const Y = (r.window.y0 - B) * s + oy + y;
        const row = Y * sink.width;
        for (let x = 0; x < ow; x++) {
          const X = (r.window.x0 - B) * s + ox + x;
          for (let c = 0; c < 3; c++) sink.add(c, row + X, net[c * plane + y * ow + x]!);
        }
      }
    });
  }
  return sink.result();
}

/** Tile starts covering [a, b) in steps of `step` (one start when step is infinite). */
function starts(a: number, b: number, step: number): number[] {
  if (!Number.isFinite(step)) return [a];
  const out: number[] = [];
  for (let x = a; x < b; x += step) out.push(x);
  return out;
}

/**
 * The area segment k must compute, in window coordinates: the kept box grown by the halos of
 * every later segment (they read it), clamped to the window.
 */
function areas(segments: readonly Segment[], window: Box, box: Box): Box[] {
  const out: Box[] = [];
  let need = 0;
  for (let k = segments.length - 1; k >= 0; k--) {
    out[k] = {
      x0: Math.max(0, box.x0 - need - window.x0),
      y0: Math.max(0, box.y0 - need - window.y0),
      x1: Math.min(window.x1 - window.x0, box.x1 + need - window.x0),
      y1: Math.min(window.y1 - window.y0, box.y1 + need - window.y0),
    };
    need += segments[k]!.halo;
  }
  return out;
}

type Emit = (out: Float32Array, w: number, h: number, ox: number, oy: number) => void;
/** Adds `cost` (multiply-adds × pixels) to the work done. */
type Progress = (cost: number) => void;

async function runRegion(
  runner: SegmentedRunner,
  input: Float32Array,
  w: number,
  h: number,
  region: { areas: Box[] },
  opts: SegmentedOptions,
  workBytes: number,
  progress: Progress,
  emit: Emit,
): Promise<void> {
  const segs = runner.segments;
  const values = new Map<string, Float32Array>([[runner.plan.input, input]]);
  const lastUse = new Map<string, number>();
  segs.forEach((seg, k) => {
    for (const t of seg.inputs) lastUse.set(t.name, k);
  });
  for (const [k, seg] of segs.entries()) {
    const area = region.areas[k]!;
    const tile = segmentTile(seg, workBytes, w, h);
    const tail = seg.scale !== 1;
    const outs = tail ? [] : seg.outputs.map((t) => new Float32Array(t.channels * w * h));
    for (let y0 = area.y0; y0 < area.y1; y0 += tile) {
      for (let x0 = area.x0; x0 < area.x1; x0 += tile) {
        opts.signal?.throwIfAborted();
        const x1 = Math.min(area.x1, x0 + tile);
        const y1 = Math.min(area.y1, y0 + tile);
        const wx0 = Math.max(0, x0 - seg.halo);
        const wy0 = Math.max(0, y0 - seg.halo);
        const ww = Math.min(w, x1 + seg.halo) - wx0;
        const wh = Math.min(h, y1 + seg.halo) - wy0;
        const feeds = seg.inputs.map((t) =>
          cropPlanes(values.get(t.name)!, t.channels, w, h, wx0, wy0, ww, wh),
        );
        const cost = Math.max(1, seg.macs) * (x1 - x0) * (y1 - y0);
        const results = await runner.runSegment(k, feeds, ww, wh);
        const sc = seg.scale;
        seg.outputs.forEach((t, i) => {
          const centre = cropPlanes(
            results[i]!,
            t.channels,
            ww * sc,
            wh * sc,
            (x0 - wx0) * sc,
            (y0 - wy0) * sc,
            (x1 - x0) * sc,
            (y1 - y0) * sc,
          );
          if (tail) emit(centre, (x1 - x0) * sc, (y1 - y0) * sc, x0 * sc, y0 * sc);
          else pastePlanes(outs[i]!, t.channels, w, h, centre, x0, y0, x1 - x0, y1 - y0);
        });
        progress(cost);
      }
    }
    seg.outputs.forEach((t, i) => {
      if (!tail) values.set(t.name, outs[i]!);
    });
    for (const [name, last] of lastUse) if (last === k) values.delete(name);
  }
}

/** A w×h window at (x0, y0) of a C-channel CHW image of W×H (the window lies inside it). */
export function cropPlanes(
  src: Float32Array,
  channels: number,
  W: number,
  H: number,
  x0: number,
  y0: number,
  w: number,
  h: number,
): Float32Array {
  if (x0 === 0 && y0 === 0 && w === W && h === H) return src;
  const out = new Float32Array(channels * w * h);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * W * H + (y0 + y) * W + x0;
      out.set(src.subarray(from, from + w), c * w * h + y * w);
    }
  }
  return out;
}

function pastePlanes(
  dst: Float32Array,
  channels: number,
  W: number,
  H: number,
  src: Float32Array,
  x0: number,
  y0: number,
  w: number,
  h: number,
): void {
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      dst.set(src.subarray(c * w * h + y * w, c * w * h + y * w + w), c * W * H + (y0 + y) * W + x0);
    }
  }
}

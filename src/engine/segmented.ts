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
import type { ModelRunner, SegmentedRunner, SessionPolicy, Tile } from '../models/runner.js';
import type { Segment, SegmentPlan } from '../models/segments.js';
import { type Pace, unpaced } from './pace.js';
import { crop as reflectCrop, type Sink } from './tiles.js';

export interface SegmentedOptions {
  /** Bytes of working memory for this run (feature maps + onnxruntime), see memory.ts. */
  readonly budget: number;
  /** Reflected border, input px. */
  readonly border: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
  /** Wraps each network run, which blocks this thread: announced and timed (pace.ts). */
  readonly pace?: Pace;
}

/**
 * Memory, measured with bench/segment-probe.ts (CPU arena on, 128–512 px windows, fine cuts of
 * x4fast, rrdn-thick and x4plus): after a window has run, a segment's session holds about
 * 1.3–1.6× the activations `liveChannels` counts (x4fast 1.38–1.50, rrdn-thick 1.33–1.62,
 * x4plus 1.29–1.71), and keeps holding it until the session is released: onnxruntime-node
 * 1.30 does not pass the arena-shrinkage run option on (SessionPolicy in runner.ts), and each
 * session has its own arena. A cut whose sessions are kept open (coarse) therefore shares the
 * budget among all its segments' windows; the fine cut releases each session after its last
 * window (x4plus, 9 segments at 305 px: 2.5 GB held kept open, back to the start's RSS released;
 * at 480 px one at a time, peak +651–707 MB for segments estimated here at 782–934 MB).
 * Without the arena the sessions would share glibc's heap instead, but a window whose
 * tensors pass glibc's 32 MB mmap threshold then pays page faults on every allocation
 * (x4fast at 512 px: 1.8× the CPU time).
 */
const ARENA = 1.7;
/** Share of the budget for the whole-image feature maps; the rest is for segment windows. */
const STORED_SHARE = 0.5;
const MIN_TILE = 32;
/**
 * Tail windows (input px a side): the tail's halo is about 2 px, so small windows cost it
 * little (x4plus: (128 + 4)² / 128² = +6 % on the tail, <1 % of the whole), while its
 * activations are at up to the network's scale² (x4plus: ~2300 channels an input px).
 */
const TAIL_SIDE = 128;

interface Box {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

/** Bytes a segment's session keeps per window pixel, with the window's feeds and results. */
const windowBytesPerPixel = (seg: Segment) =>
  4 *
  (ARENA * seg.liveChannels +
    seg.inputs.reduce((n, t) => n + t.channels, 0) +
    seg.outputs.reduce((n, t) => n + t.channels, 0) * seg.scale ** 2);

/**
 * Window pixels per segment for a working-memory budget. The tail gets at most TAIL_SIDE².
 * When a cut's sessions are kept open (`kept`), every trunk segment gets the same window, since
 * they keep their arenas side by side: the largest trunk window w satisfies
 * Σ bytes(seg, w) + bytes(tail) ≤ work. When they open one at a time, each segment's window
 * may use the whole of it on its own.
 */
export function windowSizes(plan: SegmentPlan, workBytes: number, policy: SessionPolicy = 'kept'): number[] {
  const tails = plan.segments.filter((seg) => seg.scale !== 1);
  const trunk = plan.segments.filter((seg) => seg.scale === 1);
  if (policy === 'one-at-a-time') {
    return plan.segments.map((seg) => {
      const px = workBytes / Math.max(1, windowBytesPerPixel(seg));
      return seg.scale === 1 ? px : Math.min(TAIL_SIDE * TAIL_SIDE, px);
    });
  }
  const trunkPerPixel = trunk.reduce((n, seg) => n + windowBytesPerPixel(seg), 0);
  const tailBytes = (px: number) => tails.reduce((n, seg) => n + windowBytesPerPixel(seg) * px, 0);
  let tailPx = TAIL_SIDE * TAIL_SIDE;
  // A budget too small for a full tail window shrinks it along with the trunk's.
  if (tailBytes(tailPx) > workBytes / 2) tailPx = workBytes / 2 / Math.max(1, tailBytes(1));
  const trunkPx = (workBytes - tailBytes(tailPx)) / Math.max(1, trunkPerPixel);
  return plan.segments.map((seg) => (seg.scale === 1 ? trunkPx : tailPx));
}

/** Tile side (without halo) for a window of `pixels` on a w×h area; Infinity when it fits whole. */
export function segmentTile(seg: Segment, pixels: number, w: number, h: number): number {
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
function split(plan: SegmentPlan, budget: number, width: number, height: number, policy?: SessionPolicy) {
  const whole = width * height * storedPerPixel(plan);
  const stored = whole <= budget * STORED_SHARE ? whole : budget * STORED_SHARE;
  return { stored, windows: windowSizes(plan, budget - stored, policy) };
}

/**
 * Multiply-adds one window may take. onnxruntime-node's run() holds the thread for the whole
 * window: in a worker child the pool moves progress on from the run's estimate meanwhile
 * (pace.ts, workers/progress.ts) and cancels by killing the child, but a caller running
 * upscaleImage in its own process hears progress, and can cancel, only between windows. 2e13
 * is about 2½ minutes on 2 idle AVX-512 cores (x4plus runs at ~140 GMAC/s): at the default
 * 3 GiB budget memory binds first (x4plus's trunk in one window up to ~0.7 MP, x4fast's whole
 * network up to ~2 MP). Up to 2 December 2026 this was 4e12 (~25 s), which sent x4plus photos
 * past ~0.2 MP to the fine cut, measured slower side by side (bench/exact-ways.ts, rocket.jpg
 * 640x427, one process): fp32 63.4 s against the coarse cut's 43.0 s, int8 26.9 against 20.4 s
 * (each fine segment's fresh session pays its first run's page faults, and every boundary
 * costs onnxruntime time).
 */
export const ONE_WINDOW_MACS = 2e13;

/**
 * Whether the coarse cut (trunk | tail) runs an image's trunk with its reflected border in one
 * window, within the budget and ONE_WINDOW_MACS: then no trunk halo is paid at all, and it is
 * the fastest cut, since every segment boundary costs onnxruntime time (x4plus at 200x150, CPU
 * time over the whole graph's: +8 % cut into 8 segments, +12 % into 24) and the fine cut's
 * sessions open one at a time, each paying a fresh arena. Larger images take the fine cut.
 */
export function fitsWhole(
  plan: SegmentPlan,
  budget: number,
  width: number,
  height: number,
  border: number,
): boolean {
  const [w, h] = [width + 2 * border, height + 2 * border];
  const { windows } = split(plan, budget, w, h);
  if (regionSide(plan, budget * STORED_SHARE, w, h) !== Number.POSITIVE_INFINITY) return false;
  return plan.segments.every(
    (seg, k) => seg.scale !== 1 || (w * h <= windows[k]! && w * h * seg.macs <= ONE_WINDOW_MACS),
  );
}

/**
 * Whether the whole network runs on an image with its reflected border in one session run,
 * within the budget and ONE_WINDOW_MACS: no segment boundary, halo or feature map is paid at
 * all, which is the whole-image run itself (x4fast on a 640x427 photo: the coarse cut's 48
 * trunk channels copied out and back and its 20 tail windows cost ~6 % over one run). Memory:
 * every segment's live channels held at once, plus what crosses between them, plus the input
 * and output; the coarse plan's figures bound it. Networks whose tail is wide at scale²
 * (x4plus: 2048 channels an input px) do not fit and take the coarse or fine cut.
 */
export function fitsOneWindow(
  plan: SegmentPlan,
  budget: number,
  width: number,
  height: number,
  border: number,
): boolean {
  const px = (width + 2 * border) * (height + 2 * border);
  const live = plan.storedChannels + Math.max(...plan.segments.map((seg) => seg.liveChannels));
  const bytes = 4 * px * (ARENA * live + 3 + 3 * plan.scale ** 2);
  return bytes <= budget && px * macsPerPixel(plan) <= ONE_WINDOW_MACS;
}

/** Multiply-adds the whole network takes per input pixel. */
export const macsPerPixel = (plan: SegmentPlan): number => plan.segments.reduce((n, seg) => n + seg.macs, 0);

/**
 * The whole network (whose cut is `plan`) over the image with a reflected `border`, in one run,
 * the border cut away: the definition of the exact result. Progress comes once, at the end
 * (fitsOneWindow bounds the run's length; `pace` announces it). The whole-network session keeps
 * this window's arena until it is released (onnxruntime-node passes no memory run options on).
 */
export async function runOneWindow<T>(
  image: Tile,
  runner: ModelRunner,
  plan: SegmentPlan,
  opts: Omit<SegmentedOptions, 'budget'>,
  sink: Sink<T>,
): Promise<T> {
  const s = runner.scale;
  const B = opts.border;
  const [PW, PH] = [image.width + 2 * B, image.height + 2 * B];
  opts.signal?.throwIfAborted();
  const padded = { data: B === 0 ? image.data : reflectCrop(image, -B, -B, PW, PH), width: PW, height: PH };
  const pace = opts.pace ?? unpaced;
  const work = { macs: macsPerPixel(plan) * PW * PH, from: 0, to: 1 };
  const out = await pace(work, () => runner.run(padded));
  const plane = out.width * out.height;
  for (let y = 0; y < sink.height; y++) {
    const from = (B * s + y) * out.width + B * s;
    for (let c = 0; c < 3; c++) sink.put(c, y * sink.width, out.data, c * plane + from, sink.width);
  }
  opts.onProgress?.(1, 1);
  return sink.result();
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
  const { windows } = split(runner.plan, opts.budget, PW, PH, runner.policy);
  const side = regionSide(runner.plan, opts.budget * STORED_SHARE, PW, PH);
  const ctx = runner.plan.totalHalo;

  const pool = new MapPool();
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
  const progress: Progress = {
    at: (c = 0) => (done + c) / total,
    add: (c) => {
      done += c;
      opts.onProgress?.(done, total);
    },
  };

  for (const r of regions) {
    const w = r.window.x1 - r.window.x0;
    const h = r.window.y1 - r.window.y0;
    let input = padded;
    if (w !== PW || h !== PH) {
      input = new Float32Array(3 * w * h);
      copyBlock(planes(padded, 3, PW, PH), r.window.x0, r.window.y0, planes(input, 3, w, h), 0, 0, w, h);
    }
    await runRegion(runner, input, w, h, r, opts, windows, pool, progress, (out, sx, sy, ow, oh, ox, oy) => {
      // Tail output: the ow×oh block at (sx, sy) of its window's result → window px (ox, oy)
      // → the sink, without the border.
      const net = runner.fromNetwork(out.data);
      const plane = out.width * out.height;
      const X = (r.window.x0 - B) * s + ox;
      for (let y = 0; y < oh; y++) {
        const to = ((r.window.y0 - B) * s + oy + y) * sink.width + X;
        const from = (sy + y) * out.width + sx;
        for (let c = 0; c < 3; c++) sink.put(c, to, net, c * plane + from, ow);
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

/** Planes of C channels, CHW. */
interface Planes {
  readonly data: Float32Array;
  readonly channels: number;
  readonly width: number;
  readonly height: number;
}
const planes = (data: Float32Array, channels: number, width: number, height: number): Planes => ({
  data,
  channels,
  width,
  height,
});

/** Hands on the w×h block at (sx, sy) of a tail window's result, for window px (ox, oy). */
type Emit = (out: Planes, sx: number, sy: number, w: number, h: number, ox: number, oy: number) => void;
/** The work done, in multiply-adds × pixels: `at` the fraction with `cost` more, `add` reports it. */
interface Progress {
  at(cost?: number): number;
  add(cost: number): void;
}

async function runRegion(
  runner: SegmentedRunner,
  input: Float32Array,
  w: number,
  h: number,
  region: { areas: Box[] },
  opts: SegmentedOptions,
  windows: readonly number[],
  pool: MapPool,
  progress: Progress,
  emit: Emit,
): Promise<void> {
  const segs = runner.segments;
  const pace = opts.pace ?? unpaced;
  const values = new Map<string, Float32Array>([[runner.plan.input, input]]);
  const lastUse = new Map<string, number>();
  segs.forEach((seg, k) => {
    for (const t of seg.inputs) lastUse.set(t.name, k);
  });
  for (const [k, seg] of segs.entries()) {
    try {
      const area = region.areas[k]!;
      const tail = seg.scale !== 1;
      const sc = seg.scale;
      const xs = spread(area.x0, area.x1, seg.halo, w, segmentTile(seg, windows[k]!, w, h));
      const ys = spread(area.y0, area.y1, seg.halo, h, segmentTile(seg, windows[k]!, w, h));
      // Every window of a segment has one size (edge windows slide inward, keeping more context
      // than the halo), so its session reuses the same arena blocks and the feeds one buffer.
      const [ww, wh] = [xs[0]!.w1 - xs[0]!.w0, ys[0]!.w1 - ys[0]!.w0];
      // One window over the whole region: its results are the maps, kept as onnxruntime gave
      // them, not cropped and pasted into a second and third copy (x4fast, rocket.jpg run whole:
      // 2 × 59 MB less at the trunk's end, see bench/memory-probe.ts).
      const adopt = !tail && ww === w && wh === h;
      const outs = tail || adopt ? [] : seg.outputs.map((t) => pool.take(t.channels * w * h));
      const feeds = seg.inputs.map((t) => ({ t, buf: new Float32Array(t.channels * ww * wh) }));
      for (const ty of ys) {
        for (const tx of xs) {
          opts.signal?.throwIfAborted();
          const inputs = feeds.map(({ t, buf }) => {
            const src = values.get(t.name)!;
            if (ww === w && wh === h) return src;
            copyBlock(
              planes(src, t.channels, w, h),
              tx.w0,
              ty.w0,
              planes(buf, t.channels, ww, wh),
              0,
              0,
              ww,
              wh,
            );
            return buf;
          });
          const [tw, th] = [tx.b - tx.a, ty.b - ty.a];
          const cost = Math.max(1, seg.macs) * tw * th;
          const work = { macs: seg.macs * ww * wh, from: progress.at(), to: progress.at(cost) };
          const results = await pace(work, () => runner.runSegment(k, inputs, ww, wh));
          if (adopt) {
            seg.outputs.forEach((t, i) => {
              values.set(t.name, pool.adopt(results[i]!));
            });
            progress.add(cost);
            continue;
          }
          seg.outputs.forEach((t, i) => {
            const out = planes(results[i]!, t.channels, ww * sc, wh * sc);
            const [sx, sy] = [(tx.a - tx.w0) * sc, (ty.a - ty.w0) * sc];
            if (tail) emit(out, sx, sy, tw * sc, th * sc, tx.a * sc, ty.a * sc);
            else copyBlock(out, sx, sy, planes(outs[i]!, t.channels, w, h), tx.a, ty.a, tw, th);
          });
          progress.add(cost);
        }
      }
      seg.outputs.forEach((t, i) => {
        if (!tail && !adopt) values.set(t.name, outs[i]!);
      });
      for (const [name, last] of lastUse) {
        if (last !== k) continue;
        pool.give(values.get(name)!);
        values.delete(name);
      }
    } finally {
      // Its last window ran (or the run stopped): a cut whose sessions open one at a time
      // releases this one before the next segment opens.
      await runner.finished(k);
    }
  }
}

/**
 * Whole-image feature maps freed at their last use, by length, for the next segment or region
 * to reuse. Without it a region's maps become garbage that V8 collects when it gets to it, and
 * the next region's are allocated first (x4fast, 1 MP under a 768 MB budget: 514 MB over it).
 * A reused map holds stale values outside the area its segment writes; only window context
 * beyond a halo reads them, which no kept pixel depends on.
 */
class MapPool {
  private readonly mine = new WeakSet<Float32Array>();
  private readonly free = new Map<number, Float32Array[]>();

  take(length: number): Float32Array {
    let a = this.free.get(length)?.pop();
    if (!a) {
      // Regions at the image's edges differ in size from the others: maps of another length
      // are dropped before a new one is made, or every size would stay held to the end (x4fast,
      // 4 MP under a 768 MiB budget: peak 2819 MB, 1.2 GB over budget + constant; now 1173 MB).
      this.free.clear();
      a = new Float32Array(length);
    }
    this.mine.add(a);
    return a;
  }

  /** A map made elsewhere (a whole-region result) that may be reused once given back. */
  adopt(a: Float32Array): Float32Array {
    this.mine.add(a);
    return a;
  }

  /** Maps this pool did not hand out (the network input) are left alone. */
  give(a: Float32Array): void {
    if (!this.mine.has(a)) return;
    const list = this.free.get(a.length) ?? [];
    list.push(a);
    this.free.set(a.length, list);
  }
}

interface Span {
  /** Kept part [a, b) and the window [w0, w1) it is computed in, along one axis. */
  readonly a: number;
  readonly b: number;
  readonly w0: number;
  readonly w1: number;
}

/**
 * Tiles of equal length covering [a, b) of an axis of `size` px, each in a window of one
 * length (tile + 2·halo, at most `size`) that holds its halo or reaches the axis's end, where
 * a whole-image run zero-pads too: exact either way.
 */
export function spread(a: number, b: number, halo: number, size: number, tile: number): Span[] {
  const n = Number.isFinite(tile) ? Math.max(1, Math.ceil((b - a) / tile)) : 1;
  const len = Math.ceil((b - a) / n);
  const win = Math.min(size, len + 2 * halo);
  const out: Span[] = [];
  for (let i = 0; i < n; i++) {
    const ta = a + i * len;
    const tb = Math.min(b, ta + len);
    const w0 = Math.min(Math.max(0, ta - halo), size - win);
    out.push({ a: ta, b: tb, w0, w1: w0 + win });
  }
  return out;
}

/** Copies the w×h block at (sx, sy) of `src` to (dx, dy) of `dst` (same channels; both inside). */
function copyBlock(
  src: Planes,
  sx: number,
  sy: number,
  dst: Planes,
  dx: number,
  dy: number,
  w: number,
  h: number,
) {
  const [sp, dp] = [src.width * src.height, dst.width * dst.height];
  for (let c = 0; c < src.channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * sp + (sy + y) * src.width + sx;
      dst.data.set(src.data.subarray(from, from + w), c * dp + (dy + y) * dst.width + dx);
    }
  }
}

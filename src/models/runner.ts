/**
 * One opened network at one native scale. `run()` takes and gives RGB, CHW, values 0..1;
 * the model's own range and channel order are handled here so the engine never sees them.
 */
import ort from 'onnxruntime-node';
import { PixeliftError } from '../errors.js';
import type { ModelEntry } from './catalog.js';
import type { Segment, SegmentPlan } from './segments.js';
import type { ResolvedDevice } from './session.js';

export interface Tile {
  /** RGB planes, CHW, 0..1. */
  readonly data: Float32Array;
  readonly width: number;
  readonly height: number;
}

export class ModelRunner {
  private readonly inputName: string;
  private readonly outputName: string;

  constructor(
    readonly model: ModelEntry,
    readonly scale: number,
    readonly session: ort.InferenceSession,
    readonly device: ResolvedDevice,
  ) {
    this.inputName = session.inputNames[0]!;
    this.outputName = session.outputNames[0]!;
  }

  /**
   * Runs one tile. The session keeps the arena of its largest window until it is released:
   * onnxruntime-node 1.30 passes no memory run options on (see SessionPolicy).
   */
  async run(tile: Tile): Promise<Tile> {
    const { width, height } = tile;
    if (tile.data.length !== 3 * width * height) {
      throw new RangeError(`Tile data holds ${tile.data.length} values, expected 3x${height}x${width}`);
    }
    const [lo, hi] = this.model.inputRange;
    const bgr = this.model.channelOrder === 'bgr';
    const input = lo === 0 && hi === 1 && !bgr ? tile.data : toModelRange(tile.data, lo, hi, bgr);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run({
        [this.inputName]: new ort.Tensor('float32', input, [1, 3, height, width]),
      });
    } catch (err) {
      throw new PixeliftError('inference_failed', { message: (err as Error).message }, { cause: err });
    }
    const out = result[this.outputName]!;
    const [, c, oh, ow] = out.dims as number[];
    if (c !== 3 || oh !== height * this.scale || ow !== width * this.scale) {
      throw new PixeliftError('inference_failed', {
        message: `${this.model.id} gave ${out.dims.join('x')} for a ${width}x${height} input at scale ${this.scale}`,
      });
    }
    const data = out.data as Float32Array;
    return {
      data: lo === 0 && hi === 1 && !bgr ? data : fromModelRange(data, lo, hi, bgr),
      width: ow!,
      height: oh!,
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

export function toModelRange(src: Float32Array, lo: number, hi: number, bgr: boolean): Float32Array {
  const plane = src.length / 3;
  const out = new Float32Array(src.length);
  const k = hi - lo;
  for (let c = 0; c < 3; c++) {
    const from = (bgr ? 2 - c : c) * plane;
    const to = c * plane;
    for (let i = 0; i < plane; i++) out[to + i] = lo + src[from + i]! * k;
  }
  return out;
}

export function fromModelRange(src: Float32Array, lo: number, hi: number, bgr: boolean): Float32Array {
  const plane = src.length / 3;
  const out = new Float32Array(src.length);
  const k = 1 / (hi - lo);
  for (let c = 0; c < 3; c++) {
    const from = (bgr ? 2 - c : c) * plane;
    const to = c * plane;
    for (let i = 0; i < plane; i++) out[to + i] = (src[from + i]! - lo) * k;
  }
  return out;
}

/**
 * How a cut holds its segments' sessions. onnxruntime-node 1.30 passes no run option but
 * `logSeverityLevel` and `tag` to the native run (js/node/src/run_options_helper.cc), so the
 * arena-shrinkage option never reaches the session: a session keeps its largest run's arena
 * until it is released (measured, x4plus fine cut at 305 px windows: +290 MB held per segment
 * after its run, 2.5 GB for the 9 segments; released, RSS returns to where it was).
 *
 * `kept`: every session opens on first use and stays open until release(): the coarse cut,
 * whose trunk session takes ~1 s of CPU to open (x4plus: 66 MB of weights).
 * `one-at-a-time`: a segment's session is released as soon as the engine is done with it
 * (finished()), so only one segment's arena is alive at a time and each window may use the
 * whole budget: the fine cut, whose sessions are small (x4plus: 9 MB of weights, ~50 ms of CPU
 * to open, ~30 ms for a first run's weight packing).
 */
export type SessionPolicy = 'kept' | 'one-at-a-time';

/**
 * A network cut into segments (src/models/segments.ts), one session each. The engine feeds
 * each segment the whole-image feature maps it needs, window by window; values are in the
 * network's own range (`toNetwork` / `fromNetwork` convert at the ends).
 */
export class SegmentedRunner {
  private readonly sessions: (Promise<ort.InferenceSession> | undefined)[];
  /** Callers between asking for a segment's session and the end of their run on it. */
  private readonly users: number[];
  private released = false;

  constructor(
    readonly model: ModelEntry,
    readonly scale: number,
    readonly plan: SegmentPlan,
    /** Opens segment i's session (the store: from `plan.segments[i].onnx`). */
    private readonly open: (i: number) => Promise<ort.InferenceSession>,
    readonly device: ResolvedDevice,
    readonly policy: SessionPolicy = 'kept',
  ) {
    this.sessions = plan.segments.map(() => undefined);
    this.users = plan.segments.map(() => 0);
  }

  get segments(): readonly Segment[] {
    return this.plan.segments;
  }

  /** Run segment `i` on one window: planes in its input order, CHW; results in output order. */
  async runSegment(
    i: number,
    inputs: readonly Float32Array[],
    width: number,
    height: number,
  ): Promise<Float32Array[]> {
    if (this.released) {
      throw new PixeliftError('inference_failed', {
        message: `${this.model.id} segment ${i}: the cut's sessions are released`,
      });
    }
    const seg = this.plan.segments[i]!;
    const feeds: Record<string, ort.Tensor> = {};
    seg.inputs.forEach((t, k) => {
      feeds[t.name] = new ort.Tensor('float32', inputs[k]!, [1, t.channels, height, width]);
    });
    let result: ort.InferenceSession.ReturnType;
    this.users[i]!++;
    try {
      this.sessions[i] ??= this.open(i);
      result = await (await this.sessions[i]!).run(feeds);
    } catch (err) {
      if (err instanceof PixeliftError) throw err;
      throw new PixeliftError('inference_failed', { message: (err as Error).message }, { cause: err });
    } finally {
      this.users[i]!--;
    }
    return seg.outputs.map((t) => {
      const out = result[t.name]!;
      const [, c, oh, ow] = out.dims as number[];
      if (c !== t.channels || oh !== height * seg.scale || ow !== width * seg.scale) {
        throw new PixeliftError('inference_failed', {
          message: `${this.model.id} segment ${i} gave ${out.dims.join('x')} for a ${width}x${height} window`,
        });
      }
      return out.data as Float32Array;
    });
  }

  /** Sessions open now (for tests and /debug). */
  openSessions(): number {
    return this.sessions.filter((s) => s !== undefined).length;
  }

  /**
   * The caller has run its last window of segment `i` for now. Under `one-at-a-time` the
   * session is released (with its arena) unless another caller is using it; a later
   * runSegment(i) opens it again.
   */
  async finished(i: number): Promise<void> {
    if (this.policy !== 'one-at-a-time' || this.users[i]! > 0) return;
    const session = this.sessions[i];
    this.sessions[i] = undefined;
    await session?.then((s) => s.release()).catch(() => undefined);
  }

  /** RGB 0..1 → the network's range and channel order. */
  toNetwork(rgb: Float32Array): Float32Array {
    const [lo, hi] = this.model.inputRange;
    const bgr = this.model.channelOrder === 'bgr';
    return lo === 0 && hi === 1 && !bgr ? rgb : toModelRange(rgb, lo, hi, bgr);
  }

  /** The network's output (in place where possible) → RGB 0..1. */
  fromNetwork(out: Float32Array): Float32Array {
    const [lo, hi] = this.model.inputRange;
    const bgr = this.model.channelOrder === 'bgr';
    return lo === 0 && hi === 1 && !bgr ? out : fromModelRange(out, lo, hi, bgr);
  }

  async release(): Promise<void> {
    this.released = true;
    const open = this.sessions.splice(0, this.sessions.length);
    await Promise.all(open.map((s) => s?.then((x) => x.release()).catch(() => undefined)));
  }
}

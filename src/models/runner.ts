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
   * `releaseArena`: give the session's arena back after the run (for a one-off large window,
   * which would otherwise stay held by the session until the process ends).
   */
  async run(tile: Tile, opts: { releaseArena?: boolean } = {}): Promise<Tile> {
    const { width, height } = tile;
    if (tile.data.length !== 3 * width * height) {
      throw new RangeError(`Tile data holds ${tile.data.length} values, expected 3x${height}x${width}`);
    }
    const [lo, hi] = this.model.inputRange;
    const bgr = this.model.channelOrder === 'bgr';
    const input = lo === 0 && hi === 1 && !bgr ? tile.data : toModelRange(tile.data, lo, hi, bgr);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(
        { [this.inputName]: new ort.Tensor('float32', input, [1, 3, height, width]) },
        opts.releaseArena ? RELEASE_ARENA : {},
      );
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

const RELEASE_ARENA: ort.InferenceSession.RunOptions = {
  extra: { memory: { enable_memory_arena_shrinkage: 'cpu:0' } },
};

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
 * A network cut into segments (src/models/segments.ts), one session each. The engine feeds
 * each segment the whole-image feature maps it needs, window by window; values are in the
 * network's own range (`toNetwork` / `fromNetwork` convert at the ends).
 */
export class SegmentedRunner {
  // Each session has its own arena; without shrinking, every one would keep its peak after its
  // run (x4plus, 9 segments at 200x150: 2.9 GB held; shrinking costs ~4 % CPU time there).
  private readonly runOptions = RELEASE_ARENA;

  constructor(
    readonly model: ModelEntry,
    readonly scale: number,
    readonly plan: SegmentPlan,
    private readonly sessions: readonly ort.InferenceSession[],
    readonly device: ResolvedDevice,
  ) {}

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
    const seg = this.plan.segments[i]!;
    const feeds: Record<string, ort.Tensor> = {};
    seg.inputs.forEach((t, k) => {
      feeds[t.name] = new ort.Tensor('float32', inputs[k]!, [1, t.channels, height, width]);
    });
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.sessions[i]!.run(feeds, this.runOptions);
    } catch (err) {
      throw new PixeliftError('inference_failed', { message: (err as Error).message }, { cause: err });
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
    await Promise.all(this.sessions.map((s) => s.release()));
  }
}

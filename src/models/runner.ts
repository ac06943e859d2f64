/**
 * One opened network at one native scale. `run()` takes and gives RGB, CHW, values 0..1;
 * the model's own range and channel order are handled here so the engine never sees them.
 */
import ort from 'onnxruntime-node';
import { PixeliftError } from '../errors.js';
import type { ModelEntry } from './catalog.js';
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

function toModelRange(src: Float32Array, lo: number, hi: number, bgr: boolean): Float32Array {
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

function fromModelRange(src: Float32Array, lo: number, hi: number, bgr: boolean): Float32Array {
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

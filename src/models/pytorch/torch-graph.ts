/**
 * PyTorch modules as ONNX nodes, for the architectures in `arch/`: each helper reads its
 * weights from the state dict by PyTorch name, adds the node, and counts parameters and
 * FLOPs per input pixel (2 × multiply-adds, scaled by the resolution the layer runs at).
 */
import { PixeliftError } from '../../errors.js';
import type { ImportResult } from '../import/ncnn.js';
import { newImportStats } from '../import/ncnn.js';
import { float, GraphBuilder } from '../onnx/builder.js';
import type { ArchDetection, StateDict, TorchTensor } from './types.js';

export interface ConvOptions {
  /** Zero padding on every side; default (k - 1) / 2 ("same"). */
  readonly pad?: number;
  readonly groups?: number;
  /** Replace the stored weight (e.g. a re-parameterised or channel-permuted one). */
  readonly weight?: TorchTensor;
  readonly bias?: TorchTensor | null;
}

export class TorchGraph {
  readonly g: GraphBuilder;
  readonly stats = newImportStats();
  private readonly used = new Set<string>();

  constructor(
    readonly sd: StateDict,
    name: string,
  ) {
    this.g = new GraphBuilder(name);
  }

  has(key: string): boolean {
    return this.sd.has(key);
  }

  /** A tensor by PyTorch name; counted as a parameter of the model. */
  t(key: string): TorchTensor {
    const v = this.sd.get(key);
    if (!v) {
      throw new PixeliftError('model_unreadable', {
        file: this.g.name,
        message: `the state dict has no "${key}", which this architecture needs`,
      });
    }
    this.used.add(key);
    return v;
  }

  /** Mark a tensor as a parameter without adding it to the graph (folded into another). */
  use(key: string): TorchTensor {
    return this.t(key);
  }

  /** nn.Conv2d `${prefix}.weight`/`.bias`, stride 1. `scale`: the layer's resolution ÷ the input's. */
  conv(x: string, prefix: string, scale: number, o: ConvOptions = {}): string {
    const w = o.weight ?? this.t(`${prefix}.weight`);
    const bias =
      o.bias === undefined ? (this.has(`${prefix}.bias`) ? this.t(`${prefix}.bias`) : null) : o.bias;
    const [cout, cinPerGroup, kh, kw] = w.shape as [number, number, number, number];
    const pad = o.pad ?? (kh - 1) / 2;
    const inputs = [x, this.g.tensor(`${prefix}.weight`, w.data, w.shape)];
    if (bias) inputs.push(this.g.tensor(`${prefix}.bias`, bias.data, [cout]));
    this.stats.flopsPerInputPixel += 2 * cout * cinPerGroup * kh * kw * scale * scale;
    return this.g.node(
      'Conv',
      inputs,
      { kernel_shape: [kh, kw], pads: [pad, pad, pad, pad], group: o.groups ?? 1 },
      prefix,
    );
  }

  lrelu(x: string, alpha: number): string {
    return this.g.node('LeakyRelu', [x], { alpha: float(alpha) });
  }

  relu(x: string): string {
    return this.g.node('Relu', [x]);
  }

  /** nn.PReLU `${key}` (num_parameters 1 or C). */
  prelu(x: string, key: string): string {
    const slope = this.t(key);
    const n = slope.data.length;
    return this.g.node('PRelu', [x, this.g.tensor(key, slope.data, n === 1 ? [1] : [n, 1, 1])]);
  }

  add(a: string, b: string): string {
    return this.g.node('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.g.node('Mul', [a, b]);
  }

  scaled(x: string, k: number): string {
    return this.g.node('Mul', [x, this.g.scalar('k', k)]);
  }

  /** x * k + y, the residual-scaling pattern. */
  axpy(x: string, k: number, y: string): string {
    return this.add(this.scaled(x, k), y);
  }

  /** F.interpolate(scale_factor=r, mode='nearest'). */
  upNearest(x: string, r: number): string {
    const scales = this.g.tensor('scales', Float32Array.of(1, 1, r, r), [4]);
    return this.g.node('Resize', [x, '', scales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
  }

  /** nn.PixelShuffle(r): PyTorch's channel order is ONNX DepthToSpace CRD. */
  pixelShuffle(x: string, r: number): string {
    return this.g.node('DepthToSpace', [x], { blocksize: r, mode: 'CRD' });
  }

  /**
   * Reflect-pad the bottom and right of `x` up to a multiple of `m` (spandrel's
   * `pad_to_multiple`); returns the padded value. Needs H, W > the padding (≥ m).
   */
  padToMultiple(x: string, m: number): string {
    const g = this.g;
    const shape = g.node('Shape', [x]);
    const hw = g.node('Slice', [shape, g.int64s('s', [2]), g.int64s('e', [4])]);
    const mm = g.int64s('m', [m]);
    const pad = g.node('Mod', [g.node('Sub', [mm, g.node('Mod', [hw, mm])]), mm]);
    const pads = g.node('Concat', [g.int64s('zeros', [0, 0, 0, 0, 0, 0]), pad], { axis: 0 });
    return g.node('Pad', [x, pads], { mode: 'reflect' });
  }

  /** Crop `y` to the input `x`'s height and width × `scale`. */
  cropTo(y: string, x: string, scale: number): string {
    const g = this.g;
    const shape = g.node('Shape', [x]);
    const hw = g.node('Slice', [shape, g.int64s('s', [2]), g.int64s('e', [4])]);
    const ends = g.node('Mul', [hw, g.int64s('r', [scale, scale])]);
    return g.node('Slice', [y, g.int64s('starts', [0, 0]), ends, g.int64s('axes', [2, 3])]);
  }

  /** Finish: expose `out` as `output`, fill the stats. */
  finish(out: string, d: ArchDetection): ImportResult {
    this.g.output(out, 'output', [1, d.outputChannels, 'out_height', 'out_width']);
    let params = 0;
    for (const key of this.used) params += this.sd.get(key)!.data.length;
    this.stats.params = params;
    this.stats.scale = d.scale;
    this.stats.inputChannels = d.inputChannels;
    this.stats.outputChannels = d.outputChannels;
    this.stats.flopsPerInputPixel = Math.round(this.stats.flopsPerInputPixel);
    return graphResult(this.g, d, this.stats);
  }

  /** The graph input `input` [1, C, H, W]. */
  input(channels: number): string {
    return this.g.input('input', [1, channels, 'height', 'width']);
  }
}

/** The length of a `prefix.N.…` sequence: highest N + 1 (0 when absent). */
export function seqLen(sd: StateDict, prefix: string): number {
  let max = -1;
  const p = `${prefix}.`;
  for (const k of sd.keys()) {
    if (!k.startsWith(p)) continue;
    const n = Number(k.slice(p.length).split('.')[0]);
    if (Number.isInteger(n) && n > max) max = n;
  }
  return max + 1;
}

/** Shape of a tensor, or undefined when absent. */
export function shapeOf(sd: StateDict, key: string): readonly number[] | undefined {
  return sd.get(key)?.shape;
}

/** A pixel-shuffle conv's output channels = out · r²: find r for `outChannels` candidates. */
export function shuffleScale(channels: number, outChannels: number): number | undefined {
  const r = Math.round(Math.sqrt(channels / outChannels));
  return r >= 1 && r * r * outChannels === channels ? r : undefined;
}

/**
 * What every architecture's build returns: the graph's bytes (tagged with the architecture and
 * variant) and its statistics, the shape fields taken from the detection.
 */
export function graphResult(
  g: GraphBuilder,
  d: ArchDetection,
  counter: { readonly params: number; readonly flopsPerInputPixel: number },
): ImportResult {
  return {
    onnx: g.toBytes({ producer: 'pixelift-pytorch', metadata: { arch: d.arch, variant: d.variant } }),
    stats: {
      params: counter.params,
      flopsPerInputPixel: counter.flopsPerInputPixel,
      scale: d.scale,
      inputChannels: d.inputChannels,
      outputChannels: d.outputChannels,
    },
  };
}

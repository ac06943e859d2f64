/**
 * Building blocks shared by the VQGAN-based face restorers (CodeFormer, RestoreFormer): GroupNorm
 * with 32 groups and eps 1e-6, swish, the pre-activation ResBlock, the zero-padded stride-2
 * downsampling and nearest ×2 upsampling convolutions, and the [-1, 1] face normalisation in and
 * out, all at a fixed face side `size` (FLOPs are counted per input pixel).
 */
import { float, type GraphBuilder } from '../../onnx/builder.js';
import { conv2d, type ParamCounter, reshape } from '../../onnx/ops.js';
import type { StateDict } from '../types.js';
import { need } from './keys.js';

const GROUPS = 32;

export function vqganOps(g: GraphBuilder, sd: StateDict, counter: ParamCounter, size: number) {
  const area = (side: number) => (side / size) ** 2;
  const conv = (x: string, key: string, side: number, opts: { padding?: number; stride?: number } = {}) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area(side), opts);
  const swish = (x: string, name: string) =>
    g.node('Mul', [x, g.node('Sigmoid', [x], {}, `${name}_sig`)], {}, name);
  /** nn.GroupNorm(32, C, eps=1e-6): InstanceNormalization over [1, 32, C/32·H·W], then the affine. */
  const groupNorm = (x: string, key: string) => {
    const w = need(sd, `${key}.weight`);
    const c = w.data.length;
    const b = need(sd, `${key}.bias`, [c]);
    counter.params += 2 * c;
    const ones = g.tensor(`${key}.unit_scale`, new Float32Array(GROUPS).fill(1), [GROUPS]);
    const zeros = g.tensor(`${key}.unit_bias`, new Float32Array(GROUPS), [GROUPS]);
    const grouped = reshape(g, x, [0, GROUPS, -1], `${key}_grouped`);
    const normed = g.node(
      'InstanceNormalization',
      [grouped, ones, zeros],
      { epsilon: float(1e-6) },
      `${key}_in`,
    );
    const back = g.node('Reshape', [normed, g.node('Shape', [x], {}, `${key}_shape`)], {}, `${key}_back`);
    const scaled = g.node('Mul', [back, g.tensor(`${key}.weight`, w.data, [c, 1, 1])], {}, `${key}_scaled`);
    return g.node('Add', [scaled, g.tensor(`${key}.bias`, b.data, [c, 1, 1])], {}, `${key}_affine`);
  };
  /** conv2(swish(norm2(conv1(swish(norm1(x)))))) + x, the shortcut a 1×1 conv named `shortcut` when widths differ. */
  const resBlock = (x: string, key: string, side: number, shortcut: string) => {
    let y = conv(swish(groupNorm(x, `${key}.norm1`), `${key}_swish1`), `${key}.conv1`, side);
    y = conv(swish(groupNorm(y, `${key}.norm2`), `${key}_swish2`), `${key}.conv2`, side);
    const skip = sd.has(`${key}.${shortcut}.weight`) ? conv(x, `${key}.${shortcut}`, side) : x;
    return g.node('Add', [y, skip], {}, key);
  };
  /** F.pad(x, (0, 1, 0, 1)) then a 3×3 stride-2 conv; `side` is the output's. */
  const downsample = (x: string, key: string, side: number) => {
    const padded = g.node(
      'Pad',
      [x, g.int64s(`${key}.pads`, [0, 0, 0, 0, 0, 0, 1, 1])],
      { mode: 'constant' },
      `${key}_pad`,
    );
    return conv(padded, key, side, { padding: 0, stride: 2 });
  };
  /** Nearest ×2 then a 3×3 conv; `side` is the output's. */
  const upsample = (x: string, key: string, side: number) =>
    conv(
      g.node(
        'Resize',
        [x, '', g.tensor(`${key}.scales`, Float32Array.of(1, 1, 2, 2), [4])],
        { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
        `${key}_up`,
      ),
      key,
      side,
    );
  /** [0, 1] RGB → (x − 0.5)/0.5, as the references' `normalize`. */
  const normaliseInput = (input: string) =>
    g.node(
      'Div',
      [g.node('Sub', [input, g.scalar('in_mean', 0.5)], {}, 'in_centred'), g.scalar('in_std', 0.5)],
      {},
      'in_normalised',
    );
  /** [-1, 1] → [0, 1], clamped, as `tensor2img(min_max=(-1, 1))`. */
  const denormaliseOutput = (y: string) => {
    const image = g.node(
      'Mul',
      [g.node('Add', [y, g.scalar('out_shift', 1)], {}, 'out_shifted'), g.scalar('out_half', 0.5)],
      {},
      'out_scaled',
    );
    return g.node('Clip', [image, g.scalar('out_min', 0), g.scalar('out_max', 1)], {}, 'out_clamped');
  };
  return { area, conv, swish, groupNorm, resBlock, downsample, upsample, normaliseInput, denormaliseOutput };
}

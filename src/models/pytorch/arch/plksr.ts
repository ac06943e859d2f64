/**
 * PLKSR and RealPLKSR (Lee et al. 2024, github.com/dslisleedh/PLKSR): all-convolutional blocks
 * of a channel mixer, a large-kernel convolution on the first `split_ratio` of the channels,
 * element-wise attention and a 1×1 refinement; the output adds the input repeated s² times per
 * channel before the final PixelShuffle. RealPLKSR uses Mish in a doubled mixer and a GroupNorm
 * (4 groups) or channels-first LayerNorm per block.
 *
 * Detected as spandrel does. RealPLKSR's optional DySample upsampler (learned offsets, bilinear
 * GridSample) replaces the PixelShuffle. Not supported (left to `model_arch_unknown`): PLKSR's
 * SparsePLK kernels (their dilations are not in the state dict).
 */
import { DataType, float, GraphBuilder } from '../../onnx/builder.js';
import {
  channelsFirstLayerNorm,
  concat,
  conv2d,
  gelu,
  intOp,
  type ParamCounter,
  pixelShuffle,
  reshape,
  shapeOf as shapeOfValue,
  shapeVector,
  slice,
} from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { exactSqrt, need, shapeOf } from './keys.js';

/** The highest N with a 4-D `feats.N.weight` (RealPLKSR's Dropout2d leaves a gap before it). */
function lastConvIndex(sd: StateDict): number {
  let last = -1;
  for (const key of sd.keys()) {
    const m = /^feats\.(\d+)\.weight$/.exec(key);
    if (m && sd.get(key)!.shape.length === 4) last = Math.max(last, Number(m[1]));
  }
  return last;
}

function detectCommon(sd: StateDict, real: boolean): ArchDetection | undefined {
  const first = shapeOf(sd, 'feats.0.weight', 4);
  const mixer = real ? 'channel_mixer' : 'channe_mixer';
  const m0 = shapeOf(sd, `feats.1.${mixer}.0.weight`, 4);
  const m2 = shapeOf(sd, `feats.1.${mixer}.2.weight`, 4);
  if (!first || !m0 || !m2 || first[1] !== 3) return undefined;
  const dim = first[0]!;
  const last = lastConvIndex(sd);
  const out = shapeOf(sd, `feats.${last}.weight`, 4)?.[0];
  const scale = out && out % 3 === 0 ? exactSqrt(out / 3) : undefined;
  const blocks = last - (real ? 2 : 1);
  if (!scale || blocks < 1) return undefined;
  for (let b = 1; b <= blocks; b++) if (!sd.has(`feats.${b}.refine.weight`)) return undefined;
  const lk = shapeOf(sd, 'feats.1.lk.conv.weight', 4) ?? shapeOf(sd, 'feats.1.lk.mn_conv.weight', 4);
  if (!lk) return undefined;
  const params: Record<string, number | string | boolean> = {
    dim,
    blocks,
    kernelSize: lk[2]!,
    splitRatio: lk[0]! / dim,
    useEa: sd.has('feats.1.attn.f.0.weight'),
  };
  let variant: string;
  if (real) {
    params.norm = sd.has('feats.1.layer_norm.weight') ? 'layernorm' : 'groupnorm';
    params.dysample = sd.has('to_img.init_pos');
    variant = `RealPLKSR, ${blocks} blocks, ${dim} ch, kernel ${lk[2]} (${params.norm})`;
  } else {
    const ccm =
      m0[2] === 3 && m2[2] === 1 ? 'CCM' : m0[2] === 3 && m2[2] === 3 ? 'DCCM' : m0[2] === 1 ? 'ICCM' : '';
    if (!ccm) return undefined;
    params.ccmType = ccm;
    params.lkType = sd.has('feats.1.lk.conv.weight') ? 'PLK' : 'RectSparsePLK';
    variant = `PLKSR, ${blocks} blocks, ${dim} ch, kernel ${lk[2]} (${ccm}, ${params.lkType})`;
  }
  return {
    arch: real ? 'realplksr' : 'plksr',
    variant,
    scale,
    inputChannels: 3,
    outputChannels: 3,
    sizeMultiple: 1,
    params,
  };
}

function build(sd: StateDict, det: ArchDetection) {
  const real = det.arch === 'realplksr';
  const p = det.params;
  const dim = p.dim as number;
  const s = det.scale;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder(det.arch);
  const conv = (x: string, key: string) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter);
  const input = g.input('input', [1, 3, 'height', 'width']);

  /**
   * Mish, x·tanh(softplus(x)), as x·n/(n + 2) with n = eˣ(eˣ + 2) (the same function:
   * tanh(ln(1 + eˣ)) = ((1 + eˣ)² − 1)/((1 + eˣ)² + 1)). onnxruntime's Softplus kernel took 28 %
   * of a RealPLKSR run; Exp is vectorised. x is clamped at 20 inside n, where n/(n + 2) is 1 in
   * float32, as PyTorch's softplus threshold makes it.
   */
  const mish = (x: string, name: string) => {
    const e = g.node(
      'Exp',
      [g.node('Min', [x, g.scalar(`${name}.cap`, 20)], {}, `${name}_cap`)],
      {},
      `${name}_exp`,
    );
    const n = g.node(
      'Mul',
      [e, g.node('Add', [e, g.scalar(`${name}.two`, 2)], {}, `${name}_e2`)],
      {},
      `${name}_n`,
    );
    const ratio = g.node(
      'Div',
      [n, g.node('Add', [n, g.scalar(`${name}.two_d`, 2)], {}, `${name}_n2`)],
      {},
      `${name}_tanh`,
    );
    return g.node('Mul', [x, ratio], {}, name);
  };
  /** nn.GroupNorm(4, C): InstanceNormalization over [1, 4, C/4·H·W], then the per-channel affine. */
  const groupNorm = (x: string, key: string) => {
    const groups = 4;
    const ones = g.tensor(`${key}.unit_scale`, new Float32Array(groups).fill(1), [groups]);
    const zeros = g.tensor(`${key}.unit_bias`, new Float32Array(groups), [groups]);
    const grouped = reshape(g, x, [0, groups, -1], `${key}_grouped`);
    const normed = g.node(
      'InstanceNormalization',
      [grouped, ones, zeros],
      { epsilon: float(1e-5) },
      `${key}_in`,
    );
    const back = g.node('Reshape', [normed, g.node('Shape', [x], {}, `${key}_shape`)], {}, `${key}_back`);
    return affine(back, key);
  };
  const channelsFirst = (x: string, key: string) =>
    channelsFirstLayerNorm(
      g,
      x,
      key,
      need(sd, `${key}.weight`, [dim]),
      need(sd, `${key}.bias`, [dim]),
      counter,
    );
  const affine = (x: string, key: string) => {
    const w = need(sd, `${key}.weight`, [dim]);
    const b = need(sd, `${key}.bias`, [dim]);
    counter.params += 2 * dim;
    const scaled = g.node('Mul', [x, g.tensor(`${key}.weight`, w.data, [dim, 1, 1])], {}, `${key}_scaled`);
    return g.node('Add', [scaled, g.tensor(`${key}.bias`, b.data, [dim, 1, 1])], {}, `${key}_affine`);
  };

  let x = conv(input, 'feats.0');
  for (let b = 1; b <= (p.blocks as number); b++) {
    const k = `feats.${b}`;
    let y = x;
    if (real && p.norm === 'layernorm') y = channelsFirst(y, `${k}.layer_norm`);
    const mixer = real ? `${k}.channel_mixer` : `${k}.channe_mixer`;
    y = conv(y, `${mixer}.0`);
    y = real ? mish(y, `${mixer}_mish`) : gelu(g, y, `${mixer}_gelu`);
    y = conv(y, `${mixer}.2`);
    // The large kernel sees the first pdim channels only; the rest pass through.
    const pdim = Math.round((p.splitRatio as number) * dim);
    const part = slice(g, y, 1, 0, pdim, `${k}_lk_in`);
    const rest = slice(g, y, 1, pdim, dim, `${k}_lk_rest`);
    let lk: string;
    if (sd.has(`${k}.lk.conv.weight`)) lk = conv(part, `${k}.lk.conv`);
    else {
      const mn = conv(part, `${k}.lk.mn_conv`);
      const nm = conv(part, `${k}.lk.nm_conv`);
      lk = g.node(
        'Add',
        [g.node('Add', [mn, nm], {}, `${k}_lk_mn_nm`), conv(part, `${k}.lk.nn_conv`)],
        {},
        `${k}_lk_sum`,
      );
    }
    y = concat(g, [lk, rest], 1, `${k}_lk`);
    if (p.useEa) {
      const gate = g.node('Sigmoid', [conv(y, `${k}.attn.f.0`)], {}, `${k}_ea_gate`);
      y = g.node('Mul', [y, gate], {}, `${k}_ea`);
    }
    y = conv(y, `${k}.refine`);
    if (real && p.norm === 'groupnorm') y = groupNorm(y, `${k}.norm`);
    x = g.node('Add', [y, x], {}, `${k}_res`);
  }
  const last = (p.blocks as number) + (real ? 2 : 1);
  const feats = conv(x, `feats.${last}`);
  // repeat_interleave(x, s², dim=1): output channel j reads input channel ⌊j / s²⌋.
  const repeat = Array.from({ length: 3 * s * s }, (_, j) => Math.floor(j / (s * s)));
  const repeated = g.node('Gather', [input, g.int64s('repeat_index', repeat)], { axis: 1 }, 'repeat_input');
  const sum = g.node('Add', [feats, repeated], {}, 'skip');
  const out = p.dysample ? dySample(g, sd, sum, s, counter) : pixelShuffle(g, sum, s, 'to_img');
  g.output(out, 'output', [1, 3, 'out_height', 'out_width']);
  return graphResult(g, det, counter);
}

/**
 * DySample (Liu et al. 2023) as spandrel's RealPLKSR uses it: offsets = offset(x)·σ(scope(x))/2 +
 * init_pos, added to the pixel centres, normalised to [−1, 1], pixel-shuffled into an s×-finer
 * sampling grid per channel group, then a bilinear GridSample (border padding, align_corners
 * off) of the input and, for s > 1, a 1×1 end convolution.
 */
function dySample(g: GraphBuilder, sd: StateDict, x: string, s: number, counter: ParamCounter): string {
  const offsetW = need(sd, 'to_img.offset.weight');
  const cin = offsetW.shape[1]!;
  const groups = offsetW.shape[0]! / (2 * s * s);
  const conv1 = (input: string, key: string) =>
    conv2d(g, input, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter);
  const initPos = need(sd, 'to_img.init_pos');
  const scope = g.node('Sigmoid', [conv1(x, 'to_img.scope')], {}, 'dysample_scope');
  const scaled = g.node(
    'Mul',
    [g.node('Mul', [conv1(x, 'to_img.offset'), scope], {}, 'dysample_gated'), g.scalar('dysample.half', 0.5)],
    {},
    'dysample_half',
  );
  const offset = g.node(
    'Add',
    [scaled, g.tensor('to_img.init_pos', initPos.data, initPos.shape)],
    {},
    'dysample_offset',
  );
  // Pixel centres (x + 0.5, y + 0.5) as [1, 2, 1, H, W], and the normaliser [W, H].
  const h = shapeOfValue(g, x, 2, 3, 'dysample_h');
  const w = shapeOfValue(g, x, 3, 4, 'dysample_w');
  const centres = (n: string, label: string) => {
    const scalar = (v: string, l: string) => g.node('Squeeze', [v], {}, `dysample_${label}_${l}`);
    const zero = g.int64s(`dysample.${label}.zero`, [0]);
    const one = g.int64s(`dysample.${label}.one`, [1]);
    const range = g.node(
      'Range',
      [scalar(zero, 'start'), scalar(n, 'limit'), scalar(one, 'step')],
      {},
      `dysample_${label}_range`,
    );
    return g.node(
      'Add',
      [
        g.node('Cast', [range], { to: DataType.FLOAT }, `dysample_${label}_float`),
        g.scalar(`dysample.${label}.half`, 0.5),
      ],
      {},
      `dysample_${label}_centres`,
    );
  };
  const ys = g.node('Unsqueeze', [centres(h, 'y'), g.int64s('dysample.axis1', [1])], {}, 'dysample_ys'); // [H, 1]
  const xs = g.node('Unsqueeze', [centres(w, 'x'), g.int64s('dysample.axis0', [0])], {}, 'dysample_xs'); // [1, W]
  const zeros = g.node(
    'Mul',
    [g.node('Add', [ys, xs], {}, 'dysample_grid_sum'), g.scalar('dysample.zero_f', 0)],
    {},
    'dysample_zeros',
  );
  const gridX = g.node('Add', [zeros, xs], {}, 'dysample_grid_x');
  const gridY = g.node('Add', [zeros, ys], {}, 'dysample_grid_y');
  const stack = (t: string, l: string) =>
    g.node('Unsqueeze', [t, g.int64s(`dysample.${l}.axes`, [0])], {}, `dysample_${l}_1hw`);
  const coords = reshape(
    g,
    concat(g, [stack(gridX, 'gx'), stack(gridY, 'gy')], 0, 'dysample_coords'),
    shapeVector(g, [1, 2, 1, h, w], 'dysample_coords_shape'),
    'dysample_coords5',
  );
  const wh = g.node(
    'Cast',
    [concat(g, [w, h], 0, 'dysample_wh')],
    { to: DataType.FLOAT },
    'dysample_wh_float',
  );
  const normaliser = reshape(g, wh, [1, 2, 1, 1, 1], 'dysample_normaliser');
  const moved = g.node(
    'Add',
    [
      coords,
      reshape(
        g,
        offset,
        shapeVector(g, [1, 2, groups * s * s, h, w], 'dysample_offset_shape'),
        'dysample_offset5',
      ),
    ],
    {},
    'dysample_moved',
  );
  const unit = g.node(
    'Sub',
    [
      g.node(
        'Div',
        [g.node('Mul', [moved, g.scalar('dysample.two', 2)], {}, 'dysample_2x'), normaliser],
        {},
        'dysample_div',
      ),
      g.scalar('dysample.one_f', 1),
    ],
    {},
    'dysample_unit',
  );
  const flat = reshape(
    g,
    unit,
    shapeVector(g, [1, 2 * groups * s * s, h, w], 'dysample_flat_shape'),
    'dysample_flat',
  );
  const fine = pixelShuffle(g, flat, s, 'dysample_shuffle'); // [1, 2G, sH, sW]
  const sh = intOp(g, 'Mul', h, s, 'dysample_sh');
  const sw = intOp(g, 'Mul', w, s, 'dysample_sw');
  const split = reshape(
    g,
    fine,
    shapeVector(g, [2, groups, sh, sw], 'dysample_split_shape'),
    'dysample_split',
  );
  const grid = g.node('Transpose', [split], { perm: [1, 2, 3, 0] }, 'dysample_grid'); // [G, sH, sW, 2]
  const grouped = reshape(
    g,
    x,
    shapeVector(g, [groups, cin / groups, h, w], 'dysample_groups_shape'),
    'dysample_groups',
  );
  const sampled = g.node(
    'GridSample',
    [grouped, grid],
    { mode: 'bilinear', padding_mode: 'border', align_corners: 0 },
    'dysample_sample',
  );
  const merged = reshape(
    g,
    sampled,
    shapeVector(g, [1, cin, sh, sw], 'dysample_merged_shape'),
    'dysample_merged',
  );
  return sd.has('to_img.end_conv.weight') ? conv1(merged, 'to_img.end_conv') : merged;
}

export const plksr: Architecture = {
  id: 'plksr',
  name: 'PLKSR',
  detect: (sd) => detectCommon(sd, false),
  build,
};

export const realplksr: Architecture = {
  id: 'realplksr',
  name: 'RealPLKSR',
  detect: (sd) => detectCommon(sd, true),
  build,
};

/**
 * OmniSR (Wang et al. 2023, github.com/Francis0625/Omni-SR): groups (OSAG) of Omni Self-Attention
 * blocks — an MBConv, then window attention and channel attention both inside ws×ws blocks and
 * across a dilated grid, each followed by a gated conv feed-forward — closed by a 1×1 conv and
 * ESA (enhanced spatial attention: strided conv, max-pool, bilinear upsampling back).
 *
 * The input is zero-padded to a window multiple and the output cropped, as the reference does.
 * Attention has 4 heads throughout (dim_head = C/4); the window size comes from the relative
 * position tables when `pe` is on (every released model), else spandrel's default 8.
 */
import { GraphBuilder } from '../../onnx/builder.js';
import {
  channelsFirstLayerNorm,
  conv2d,
  gelu,
  gemm,
  l2Normalize,
  type ParamCounter,
  pixelShuffle,
  reshape,
  transpose,
  type WeightTensor,
} from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { need, sequenceLength, shapeOf } from './keys.js';
import { windowOfTable } from './swinir.js';
import {
  attend,
  cropToInput,
  fromWindowHeads,
  gatherBias,
  gridShape,
  norm,
  padToWindows,
  relativePositionIndex,
  rows,
  toImage,
  toTokens,
  toWindowHeads,
} from './windows.js';

const HEADS = 4;
const ESA_MIN_SIDE = 15;
/** spandrel's default when the model has no position tables to read the window size from. */
const DEFAULT_WINDOW = 8;

/** Output channels and scale of a PixelShuffle conv with `out` channels, as spandrel guesses them. */
function scaleAndChannels(
  out: number,
  inputChannels: number,
): { scale: number; channels: number } | undefined {
  for (const c of [inputChannels, 3, 4, 1]) {
    const r = Math.round(Math.sqrt(out / c));
    if (out % c === 0 && r * r === out / c) return { scale: r, channels: c };
  }
  return undefined;
}

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'input.weight', 4);
  const up = shapeOf(sd, 'up.0.weight', 4);
  const g0 = 'residual_layer.0.residual_layer';
  if (
    !first ||
    !up ||
    !sd.has(`${g0}.0.layer.0.fn.0.weight`) ||
    !sd.has('residual_layer.0.esa.conv1.weight')
  ) {
    return undefined;
  }
  const [numFeat, inputChannels] = first as [number, number];
  const out = scaleAndChannels(up[0]!, inputChannels);
  const resNum = sequenceLength(sd, 'residual_layer');
  const blockNum = sequenceLength(sd, g0) - 1;
  if (!out || out.channels !== 3 || inputChannels !== 3 || numFeat % HEADS !== 0 || blockNum < 1)
    return undefined;
  const table = shapeOf(sd, `${g0}.0.layer.2.fn.rel_pos_bias.weight`, 2);
  const pe = table !== undefined;
  const windowSize = pe ? windowOfTable(table)?.ws : DEFAULT_WINDOW;
  if (!windowSize) return undefined;
  return {
    arch: 'omnisr',
    variant: `OmniSR, ${resNum} groups of ${blockNum} blocks, ${numFeat} ch, window ${windowSize}`,
    scale: out.scale,
    inputChannels: 3,
    outputChannels: 3,
    sizeMultiple: windowSize,
    params: { numFeat, blockNum, resNum, windowSize, pe, bias: sd.has('input.bias') },
  };
}

/** Rows [from, to) of a conv weight [out, in, kh, kw]. */
function convRows(w: WeightTensor, from: number, to: number): WeightTensor {
  const inner = w.shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [to - from, ...w.shape.slice(1)], data: w.data.slice(from * inner, to * inner) };
}

function build(sd: StateDict, det: ArchDetection) {
  const p = det.params;
  const c = p.numFeat as number;
  const ws = p.windowSize as number;
  const s = det.scale;
  const d = c / HEADS;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('omnisr');
  const input = g.input('input', [1, 3, 'height', 'width']);
  // ESA's strided conv and 7×7/3 max-pool need ≥ 15 padded pixels; the reference fails below
  // that, so only inputs it cannot run get the larger (zero) padding.
  const { padded, grid } = padToWindows(g, input, ws, 'constant', Math.ceil(ESA_MIN_SIDE / ws) * ws);
  const conv = (x: string, key: string, opts: { group?: number; stride?: number; padding?: number } = {}) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, 1, opts);
  const convWith = (x: string, key: string, w: WeightTensor, group = 1) =>
    conv2d(g, x, key, w, undefined, counter, 1, { group });
  const ln2d = (x: string, key: string) =>
    channelsFirstLayerNorm(g, x, key, need(sd, `${key}.weight`), need(sd, `${key}.bias`), counter);

  const mbconv = (x: string, k: string) => {
    let y = gelu(g, conv(x, `${k}.0`), `${k}_gelu0`);
    y = gelu(g, conv(y, `${k}.2`, { group: c }), `${k}_gelu2`);
    // Squeeze-excitation: mean over H, W → Linear (no bias) → SiLU → Linear → sigmoid, as 1×1 convs.
    const asConv = (key: string) => {
      const w = need(sd, key);
      return { shape: [w.shape[0]!, w.shape[1]!, 1, 1], data: w.data };
    };
    const pooled = g.node('GlobalAveragePool', [y], {}, `${k}_se_pool`);
    const hidden = convWith(pooled, `${k}.4.gate.1`, asConv(`${k}.4.gate.1.weight`));
    const silu = g.node('Mul', [hidden, g.node('Sigmoid', [hidden], {}, `${k}_se_sig`)], {}, `${k}_se_silu`);
    const gate = g.node(
      'Sigmoid',
      [convWith(silu, `${k}.4.gate.3`, asConv(`${k}.4.gate.3.weight`))],
      {},
      `${k}_se_gate`,
    );
    y = conv(g.node('Mul', [y, gate], {}, `${k}_se`), `${k}.5`);
    return g.node('Add', [y, x], {}, `${k}_res`);
  };

  const windowAttention = (x: string, k: string, dilated: boolean) => {
    const t = toTokens(g, x, c, `${k}_tokens`);
    const n = norm(g, sd, t, `${k}.norm`, counter);
    const qkv = need(sd, `${k}.fn.to_qkv.weight`, [3 * c, c]);
    const heads = (part: number, scale: number, label: string) =>
      toWindowHeads(
        g,
        gemm(g, n, `${k}.fn.${label}`, rows(qkv, part * c, (part + 1) * c, scale), undefined, counter),
        grid,
        HEADS,
        d,
        `${k}_${label}`,
        dilated,
      );
    let bias: string | undefined;
    const nTok = ws * ws;
    if (p.pe) {
      const table = need(sd, `${k}.fn.rel_pos_bias.weight`);
      counter.params += table.data.length;
      bias = g.tensor(`${k}.bias`, gatherBias(table, relativePositionIndex(ws), nTok, nTok), [
        HEADS,
        nTok,
        nTok,
      ]);
    }
    counter.flopsPerInputPixel += 4 * nTok * c;
    const out = attend(
      g,
      heads(0, d ** -0.5, 'q'),
      heads(1, 1, 'k'),
      heads(2, 1, 'v'),
      bias,
      undefined,
      `${k}_attend`,
    );
    const tokens = fromWindowHeads(g, out, grid, HEADS, d, `${k}_out`, dilated);
    const projected = gemm(
      g,
      tokens,
      `${k}.fn.to_out.0`,
      need(sd, `${k}.fn.to_out.0.weight`),
      undefined,
      counter,
    );
    return toImage(g, g.node('Add', [projected, t], {}, `${k}_res`), grid, c, `${k}_image`);
  };

  const gatedFfn = (x: string, k: string) => {
    const n = ln2d(x, `${k}.norm`);
    const pin = need(sd, `${k}.fn.project_in.weight`);
    const dw = need(sd, `${k}.fn.dwconv.weight`);
    const half = (i: number) =>
      convWith(
        convWith(n, `${k}.fn.project_in_${i}`, convRows(pin, i * c, (i + 1) * c)),
        `${k}.fn.dwconv_${i}`,
        convRows(dw, i * c, (i + 1) * c),
        c,
      );
    const gated = g.node('Mul', [gelu(g, half(0), `${k}_gelu`), half(1)], {}, `${k}_gated`);
    return g.node('Add', [conv(gated, `${k}.fn.project_out`), x], {}, `${k}_res`);
  };

  /**
   * Channel attention inside each ws×ws block (`Channel_Attention`) or, for `acrossBlocks`, per
   * position across all blocks (`Channel_Attention_grid`): softmax of normalised q·kᵀ over the
   * d channels of each head, times the learned temperature.
   */
  const channelAttention = (x: string, k: string, acrossBlocks: boolean) => {
    const n = ln2d(x, `${k}.norm`);
    const qkv = need(sd, `${k}.fn.qkv.weight`);
    const dw = need(sd, `${k}.fn.qkv_dwconv.weight`);
    const split = gridShape(g, grid, 'omni_channel_split', [HEADS, d, grid.nWh, ws, grid.nWw, ws]);
    // [nH, d, nWh, ph, nWw, pw] → [nW, nH, d, ws²] (within blocks) or [ws², nH, d, nW] (across).
    const perm = acrossBlocks ? [3, 5, 0, 1, 2, 4] : [2, 4, 0, 1, 3, 5];
    const part = (i: number, label: string) => {
      const y = convWith(
        convWith(n, `${k}.fn.${label}`, convRows(qkv, i * c, (i + 1) * c)),
        `${k}.fn.${label}_dw`,
        convRows(dw, i * c, (i + 1) * c),
        c,
      );
      const t = transpose(g, reshape(g, y, split, `${k}_${label}_split`), perm, `${k}_${label}_t`);
      return reshape(
        g,
        t,
        acrossBlocks ? [ws * ws, HEADS, d, -1] : [-1, HEADS, d, ws * ws],
        `${k}_${label}_groups`,
      );
    };
    const q = l2Normalize(g, part(0, 'q'), `${k}_q_norm`);
    const kk = l2Normalize(g, part(1, 'k'), `${k}_k_norm`);
    const v = part(2, 'v');
    const temperature = need(sd, `${k}.fn.temperature`, [HEADS, 1, 1]);
    counter.params += HEADS;
    counter.flopsPerInputPixel += 4 * d * c;
    const kT = transpose(g, kk, [0, 1, 3, 2], `${k}_kT`);
    const scores = g.node('MatMul', [q, kT], {}, `${k}_scores`);
    const scaled = g.node(
      'Mul',
      [scores, g.tensor(`${k}.temperature`, temperature.data, [HEADS, 1, 1])],
      {},
      `${k}_scaled`,
    );
    const out = g.node(
      'MatMul',
      [g.node('Softmax', [scaled], { axis: -1 }, `${k}_softmax`), v],
      {},
      `${k}_attended`,
    );
    const back = acrossBlocks
      ? transpose(
          g,
          reshape(
            g,
            out,
            gridShape(g, grid, 'omni_across', [ws, ws, HEADS, d, grid.nWh, grid.nWw]),
            `${k}_unsplit`,
          ),
          [2, 3, 4, 0, 5, 1],
          `${k}_back`,
        )
      : transpose(
          g,
          reshape(
            g,
            out,
            gridShape(g, grid, 'omni_within', [grid.nWh, grid.nWw, HEADS, d, ws, ws]),
            `${k}_unsplit`,
          ),
          [2, 3, 0, 4, 1, 5],
          `${k}_back`,
        );
    const image = reshape(g, back, gridShape(g, grid, 'omni_image', [1, c, grid.hp, grid.wp]), `${k}_image`);
    return g.node('Add', [conv(image, `${k}.fn.project_out`), x], {}, `${k}_res`);
  };

  const esa = (x: string, k: string) => {
    const c1 = conv(x, `${k}.conv1`);
    const strided = conv(c1, `${k}.conv2`, { stride: 2, padding: 0 });
    const pooled = g.node('MaxPool', [strided], { kernel_shape: [7, 7], strides: [3, 3] }, `${k}_pool`);
    const c3 = conv(pooled, `${k}.conv3`);
    const f = need(sd, `${k}.conv3.weight`).shape[0]!;
    const sizes = gridShape(g, grid, `esa_sizes_${f}`, [1, f, grid.hp, grid.wp]);
    // F.interpolate(bilinear, align_corners=False) is ONNX Resize linear with half-pixel centres.
    const upsampled = g.node(
      'Resize',
      [c3, '', '', sizes],
      { mode: 'linear', coordinate_transformation_mode: 'half_pixel' },
      `${k}_upsample`,
    );
    const sum = g.node('Add', [upsampled, conv(c1, `${k}.conv_f`)], {}, `${k}_sum`);
    const m = g.node('Sigmoid', [conv(sum, `${k}.conv4`)], {}, `${k}_mask`);
    return g.node('Mul', [x, m], {}, `${k}_out`);
  };

  const residual = conv(padded, 'input');
  let x = residual;
  for (let i = 0; i < (p.resNum as number); i++) {
    const gk = `residual_layer.${i}`;
    let y = x;
    for (let j = 0; j < (p.blockNum as number); j++) {
      const b = `${gk}.residual_layer.${j}.layer`;
      y = mbconv(y, `${b}.0.fn`);
      y = windowAttention(y, `${b}.2`, false);
      y = gatedFfn(y, `${b}.4`);
      y = channelAttention(y, `${b}.5`, false);
      y = gatedFfn(y, `${b}.6`);
      y = windowAttention(y, `${b}.8`, true);
      y = gatedFfn(y, `${b}.10`);
      y = channelAttention(y, `${b}.11`, true);
      y = gatedFfn(y, `${b}.12`);
    }
    y = conv(y, `${gk}.residual_layer.${p.blockNum}`);
    x = esa(g.node('Add', [y, x], {}, `${gk}_res`), `${gk}.esa`);
  }
  // The reference's last body conv is called `output`; its node gets another name so that it
  // cannot collide with the graph output.
  const last = conv2d(g, x, 'body_output', need(sd, 'output.weight'), sd.get('output.bias'), counter);
  const feat = g.node('Add', [last, residual], {}, 'body_res');
  const upsampled = pixelShuffle(
    g,
    conv2d(g, feat, 'up.0', need(sd, 'up.0.weight'), sd.get('up.0.bias'), counter, 1),
    s,
    'up_shuffle',
  );
  g.output(cropToInput(g, upsampled, grid, s), 'output', [1, 3, 'out_height', 'out_width']);
  return graphResult(g, det, counter);
}

export const omnisr: Architecture = { id: 'omnisr', name: 'OmniSR', detect, build };

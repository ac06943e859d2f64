/**
 * HAT, the Hybrid Attention Transformer (Chen et al. 2023, github.com/XPixelGroup/HAT): SwinIR's
 * layout where each Swin block also runs a channel-attention convolution branch (CAB, added
 * ×conv_scale) and each group ends with an overlapping cross-attention block (OCAB) whose keys
 * and values come from ows×ows windows around each ws×ws query window.
 *
 * Detected as spandrel does: window size from the blocks' (2ws−1)² tables, the overlapping
 * window from the OCAB table ((ws + ows − 1)² rows), compress ratio and squeeze factor from the
 * CAB's channel counts. conv_scale is not in the state dict; every released model uses 0.01.
 */
import { GraphBuilder } from '../../onnx/builder.js';
import {
  concat,
  conv2d,
  gelu,
  gemm,
  type Int64Value,
  intOp,
  leakyRelu,
  type ParamCounter,
  reshape,
  shapeVector,
  slice,
  transpose,
} from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { exactSqrt, need, sequenceLength, shapeOf } from './keys.js';
import {
  denormaliseOutput,
  normaliseInput,
  pixelshuffleScale,
  pixelshuffleUpsample,
  windowOfTable,
} from './swinir.js';
import {
  attend,
  fromWindowHeads,
  gatherBias,
  gridShape,
  mlp,
  norm,
  rows,
  shiftMask,
  toImage,
  toTokens,
  toWindowHeads,
  type WindowGrid,
  windowSelfAttention,
} from './windows.js';

/** HAT's conv_scale: a constructor argument, not a weight; 0.01 in every released config. */
const CONV_SCALE = 0.01;

const group = (i: number) => `layers.${i}.residual_group`;

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'conv_first.weight', 4);
  const b0 = `${group(0)}.blocks.0`;
  const compressed = shapeOf(sd, `${b0}.conv_block.cab.0.weight`, 4)?.[0];
  const squeezed = shapeOf(sd, `${b0}.conv_block.cab.3.attention.1.weight`, 4)?.[0];
  const before = shapeOf(sd, 'conv_before_upsample.0.weight', 4);
  if (!first || !compressed || !squeezed || !before || !sd.has(`${group(0)}.overlap_attn.qkv.weight`)) {
    return undefined;
  }
  if (sd.has('absolute_pos_embed')) return undefined;
  const [embedDim, inputChannels] = first as [number, number];
  const layers = sequenceLength(sd, 'layers');
  const depths: number[] = [];
  const numHeads: number[] = [];
  let windowSize = 0;
  let overlapWindowSize = 0;
  for (let i = 0; i < layers; i++) {
    const win = windowOfTable(shapeOf(sd, `${group(i)}.blocks.0.attn.relative_position_bias_table`));
    const oca = shapeOf(sd, `${group(i)}.overlap_attn.relative_position_bias_table`, 2);
    const depth = sequenceLength(sd, `${group(i)}.blocks`);
    const side = oca && exactSqrt(oca[0]!);
    if (!win || !side || depth === 0 || oca[1] !== win.heads || embedDim % win.heads !== 0) return undefined;
    if (windowSize !== 0 && (win.ws !== windowSize || side - win.ws + 1 !== overlapWindowSize))
      return undefined;
    windowSize = win.ws;
    overlapWindowSize = side - win.ws + 1;
    depths.push(depth);
    numHeads.push(win.heads);
  }
  // The reference unfolds with padding (ows − ws)/2 and stride ws: other overlaps give a
  // different number of key windows than query windows and cannot run.
  const extra = overlapWindowSize - windowSize;
  if (layers === 0 || extra < 0 || extra % 2 !== 0 || extra > windowSize) return undefined;
  const hidden = shapeOf(sd, `${b0}.mlp.fc1.weight`, 2)?.[0];
  const numFeat = before[0]!;
  const scale = pixelshuffleScale(sd, 'upsample', numFeat);
  const outputChannels = shapeOf(sd, 'conv_last.weight', 4)?.[0];
  if (!hidden || !scale || outputChannels !== inputChannels) return undefined;
  const blocks = depths.reduce((a, b) => a + b, 0);
  return {
    arch: 'hat',
    variant: `HAT, ${blocks} hybrid blocks in ${layers} groups, ${embedDim} ch, window ${windowSize} (overlap ${overlapWindowSize})`,
    scale,
    inputChannels,
    outputChannels,
    sizeMultiple: windowSize,
    params: {
      embedDim,
      depths,
      numHeads,
      windowSize,
      overlapWindowSize,
      overlapRatio: extra / windowSize,
      compressRatio: embedDim / compressed,
      squeezeFactor: embedDim / squeezed,
      mlpRatio: hidden / embedDim,
      resiConnection: sd.has('conv_after_body.weight') ? '1conv' : 'identity',
      numFeat,
      convScale: CONV_SCALE,
    },
  };
}

/** The reference's `calculate_rpi_oca`; indices below 0 are kept (the table lookup wraps them). */
export function overlapPositionIndex(ws: number, ows: number): Int32Array {
  const out = new Int32Array(ws * ws * ows * ows);
  const side = ws + ows - 1;
  for (let i = 0; i < ws * ws; i++) {
    for (let j = 0; j < ows * ows; j++) {
      const dy = Math.floor(j / ows) - Math.floor(i / ws) + ws - ows + 1;
      const dx = (j % ows) - (i % ws) + ws - ows + 1;
      out[i * ows * ows + j] = dy * side + dx;
    }
  }
  return out;
}

/**
 * Tokens [Hp·Wp, C] → the ows×ows windows centred on each ws×ws window, as heads
 * [nW, nH, ows², d]: `nn.Unfold(ows, stride=ws,
 * padding=(ows−ws)/2)` with zero padding. Zero-pad by p = (ows−ws)/2 on the top/left and ws−p on
 * the bottom/right, cut into (nWh+1)×(nWw+1) blocks of ws, and extend each block with the first
 * ows−ws rows (then columns) of the next one; ows ≤ 2·ws makes that enough.
 */
const blockShapes = new WeakMap<WindowGrid, Int64Value>();

/** [nWh+1, ws, nWw+1, ws, C], once per graph. */
function blockShape(g: GraphBuilder, grid: WindowGrid, channels: number): Int64Value {
  let v = blockShapes.get(grid);
  if (!v) {
    const nWh1 = intOp(g, 'Add', grid.nWh, 1, 'overlap_nwh');
    const nWw1 = intOp(g, 'Add', grid.nWw, 1, 'overlap_nww');
    v = shapeVector(g, [nWh1, grid.ws, nWw1, grid.ws, channels], 'overlap_blocks');
    blockShapes.set(grid, v);
  }
  return v;
}

function overlapWindowHeads(
  g: GraphBuilder,
  x: string,
  grid: WindowGrid,
  ows: number,
  channels: number,
  heads: number,
  name: string,
): string {
  const { ws } = grid;
  const d = channels / heads;
  const p = (ows - ws) / 2;
  const image = reshape(g, x, gridShape(g, grid, 'hwc', [grid.hp, grid.wp, channels]), `${name}_hwc`);
  const padded = g.node(
    'Pad',
    [image, g.int64s(`${name}.pads`, [p, p, 0, ws - p, ws - p, 0])],
    {},
    `${name}_pad`,
  );
  const blocks = reshape(g, padded, blockShape(g, grid, channels), `${name}_blocks`);
  const extend = (t: string, axis: number, label: string) => {
    const own = slice(g, t, axis, 0, -1, `${name}_${label}_own`);
    const next = slice(
      g,
      slice(g, t, axis, 1, Number.MAX_SAFE_INTEGER, `${name}_${label}_next`),
      axis + 1,
      0,
      ows - ws,
      `${name}_${label}_edge`,
    );
    return concat(g, [own, next], axis + 1, `${name}_${label}`);
  };
  const windows = extend(extend(blocks, 0, 'rows'), 2, 'cols'); // [nWh, ows, nWw, ows, C]
  const split = reshape(g, windows, [0, 0, 0, 0, heads, d], `${name}_heads`);
  return reshape(g, transpose(g, split, [0, 2, 4, 1, 3, 5], `${name}_t`), [-1, heads, ows * ows, d], name);
}

function build(sd: StateDict, det: ArchDetection) {
  const p = det.params;
  const ws = p.windowSize as number;
  const ows = p.overlapWindowSize as number;
  const c = p.embedDim as number;
  const depths = p.depths as number[];
  const headsPerGroup = p.numHeads as number[];
  const s = det.scale;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('hat');
  const conv = (x: string, key: string, area = 1) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area);

  const { x, grid, mean } = normaliseInput(g, det.inputChannels, ws, 1);
  const first = conv(x, 'conv_first');
  let t = toTokens(g, first, c, 'tokens');
  if (sd.has('patch_embed.norm.weight')) t = norm(g, sd, t, 'patch_embed.norm', counter);
  const shift = Math.floor(ws / 2);
  const mask = depths.some((d) => d > 1) ? shiftMask(g, grid, shift, 'shift_mask') : undefined;

  /** CAB on the LayerNorm output: conv → GELU → conv → channel attention, back to tokens. */
  const cab = (normed: string, b: string) => {
    const k = `${b}.conv_block.cab`;
    let y = conv(toImage(g, normed, grid, c, `${b}_cab_in`), `${k}.0`);
    y = conv(gelu(g, y, `${k}_gelu`), `${k}.2`);
    const pooled = g.node('GlobalAveragePool', [y], {}, `${k}_pool`);
    let w = g.node('Relu', [conv(pooled, `${k}.3.attention.1`, 0)], {}, `${k}_relu`);
    w = g.node('Sigmoid', [conv(w, `${k}.3.attention.3`, 0)], {}, `${k}_sigmoid`);
    const attended = toTokens(g, g.node('Mul', [y, w], {}, `${k}_ca`), c, `${b}_cab_out`);
    return g.node('Mul', [attended, g.scalar(`${b}.conv_scale`, CONV_SCALE)], {}, `${b}_cab_scaled`);
  };

  const ocab = (y: string, prefix: string, heads: number) => {
    const d = c / heads;
    const normed = norm(g, sd, y, `${prefix}.norm1`, counter);
    const qkvW = need(sd, `${prefix}.qkv.weight`, [3 * c, c]);
    const qkvB = sd.get(`${prefix}.qkv.bias`);
    const project = (part: number, scale: number, label: string) =>
      gemm(
        g,
        normed,
        `${prefix}.${label}`,
        rows(qkvW, part * c, (part + 1) * c, scale),
        qkvB && rows(qkvB, part * c, (part + 1) * c, scale),
        counter,
      );
    const q = toWindowHeads(g, project(0, d ** -0.5, 'q'), grid, heads, d, `${prefix}_q`);
    const k = overlapWindowHeads(g, project(1, 1, 'k'), grid, ows, c, heads, `${prefix}_k`);
    const v = overlapWindowHeads(g, project(2, 1, 'v'), grid, ows, c, heads, `${prefix}_v`);
    const table = need(sd, `${prefix}.relative_position_bias_table`, [(ws + ows - 1) ** 2, heads]);
    counter.params += table.data.length;
    counter.flopsPerInputPixel += 4 * ows * ows * c;
    const n = ws * ws;
    const m = ows * ows;
    const bias = g.tensor(`${prefix}.bias`, gatherBias(table, overlapPositionIndex(ws, ows), n, m), [
      heads,
      n,
      m,
    ]);
    const out = fromWindowHeads(
      g,
      attend(g, q, k, v, bias, undefined, `${prefix}_attend`),
      grid,
      heads,
      d,
      `${prefix}_tokens`,
    );
    const projected = gemm(
      g,
      out,
      `${prefix}.proj`,
      need(sd, `${prefix}.proj.weight`, [c, c]),
      sd.get(`${prefix}.proj.bias`),
      counter,
    );
    const z = g.node('Add', [projected, y], {}, `${prefix}_res`);
    return g.node(
      'Add',
      [z, mlp(g, sd, norm(g, sd, z, `${prefix}.norm2`, counter), `${prefix}.mlp`, counter)],
      {},
      `${prefix}_mlp_res`,
    );
  };

  depths.forEach((depth, i) => {
    const heads = headsPerGroup[i]!;
    let y = t;
    for (let j = 0; j < depth; j++) {
      const b = `${group(i)}.blocks.${j}`;
      const normed = norm(g, sd, y, `${b}.norm1`, counter);
      const convBranch = cab(normed, b);
      const attn = windowSelfAttention(g, sd, normed, `${b}.attn`, {
        grid,
        heads,
        channels: c,
        shift: j % 2 === 0 ? 0 : shift,
        mask,
        counter,
      });
      y = g.node('Add', [g.node('Add', [y, attn], {}, `${b}_attn_res`), convBranch], {}, `${b}_conv_res`);
      y = g.node(
        'Add',
        [y, mlp(g, sd, norm(g, sd, y, `${b}.norm2`, counter), `${b}.mlp`, counter)],
        {},
        `${b}_mlp_res`,
      );
    }
    y = ocab(y, `${group(i)}.overlap_attn`, heads);
    if (sd.has(`layers.${i}.conv.weight`)) {
      y = toTokens(
        g,
        conv(toImage(g, y, grid, c, `layers.${i}_image`), `layers.${i}.conv`),
        c,
        `layers.${i}_tokens`,
      );
    }
    t = g.node('Add', [y, t], {}, `layers.${i}_res`);
  });
  let feat = toImage(g, norm(g, sd, t, 'norm', counter), grid, c, 'body');
  if (sd.has('conv_after_body.weight')) feat = conv(feat, 'conv_after_body');
  feat = g.node('Add', [feat, first], {}, 'body_res');
  let y = leakyRelu(g, conv(feat, 'conv_before_upsample.0'), 0.01, 'before_upsample');
  y = pixelshuffleUpsample(g, sd, y, 'upsample', s, counter);
  denormaliseOutput(g, conv(y, 'conv_last', s * s), grid, mean, 1, s, det.outputChannels);
  return graphResult(g, det, counter);
}

export const hat: Architecture = { id: 'hat', name: 'HAT (Hybrid Attention Transformer)', detect, build };

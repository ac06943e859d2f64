/**
 * DAT, the Dual Aggregation Transformer (Chen et al. 2023, github.com/zhengchen1999/DAT):
 * residual groups that alternate spatial blocks (two rectangle-window attentions, s0×s1 and
 * s1×s0, each on half the channels and heads, some shifted) and channel blocks (attention across
 * channels over the whole image), each with a depthwise-conv branch mixed in through channel
 * and spatial gates, and an SGFN feed-forward (a depthwise-conv spatial gate on half the hidden
 * channels).
 *
 * Unlike SwinIR, DAT pads nothing at the top: each spatial block zero-pads its projected q/k/v
 * to a multiple of max(s0, s1) and crops the result, so the graph does exactly that. The
 * relative-position bias comes from a small MLP over (dy, dx) (DynamicPosBias); its input is
 * constant, so it is evaluated here at build time and the graph adds a constant, as for Swin.
 */
import { GraphBuilder } from '../../onnx/builder.js';
import {
  batchNorm,
  concat,
  conv2d,
  gelu,
  gemm,
  type Int64Value,
  intOp,
  l2Normalize,
  leakyRelu,
  type ParamCounter,
  pixelShuffle,
  reshape,
  roll,
  shapeOf as shapeOfValue,
  shapeVector,
  slice,
  transpose,
  type WeightTensor,
} from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { exactSqrt, need, sequenceLength, shapeOf } from './keys.js';
import {
  pixelshuffleScale,
  pixelshuffleUpsample,
  RGB_MEAN,
  residualConnection,
  residualConv,
} from './swinir.js';
import {
  attend,
  fromWindowHeads,
  gatherBias,
  norm,
  rows,
  shiftMask,
  toImage,
  toTokens,
  toWindowHeads,
  type WindowGrid,
} from './windows.js';

const blockKey = (i: number, j: number) => `layers.${i}.blocks.${j}`;

/** The reference's rule for which spatial blocks shift their windows. */
export function isShifted(group: number, block: number): boolean {
  return (group % 2 === 0 && block > 0 && (block - 2) % 4 === 0) || (group % 2 === 1 && block % 4 === 0);
}

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'conv_first.weight', 4);
  const a0 = `${blockKey(0, 0)}.attn`;
  const rpe = sd.get(`${a0}.attns.0.rpe_biases`);
  if (!first || !sd.has('before_RG.1.weight') || !sd.has(`${a0}.attns.0.pos.pos_proj.weight`) || !rpe) {
    return undefined;
  }
  if (rpe.shape.length !== 2 || rpe.shape[1] !== 2 || rpe.data.length < 2) return undefined;
  // The last (dy, dx) row of the branch-0 table is (s0 − 1, s1 − 1).
  const splitSize = [rpe.data[rpe.data.length - 2]! + 1, rpe.data[rpe.data.length - 1]! + 1];
  const [s0, s1] = splitSize as [number, number];
  const big = Math.max(s0, s1);
  if (!Number.isInteger(s0) || !Number.isInteger(s1) || s0 < 1 || s1 < 1 || big % s0 || big % s1)
    return undefined;
  if (rpe.shape[0] !== (2 * s0 - 1) * (2 * s1 - 1)) return undefined;
  const [embedDim, inputChannels] = first as [number, number];
  const layers = sequenceLength(sd, 'layers');
  if (layers === 0) return undefined;
  const depths: number[] = [];
  const numHeads: number[] = [];
  for (let i = 0; i < layers; i++) {
    const depth = sequenceLength(sd, `layers.${i}.blocks`);
    const heads =
      depth >= 2
        ? shapeOf(sd, `${blockKey(i, 1)}.attn.temperature`, 3)?.[0]
        : (shapeOf(sd, `${blockKey(i, 0)}.attn.attns.0.pos.pos3.2.weight`, 2)?.[0] ?? 0) * 2;
    if (depth === 0 || !heads || heads % 2 !== 0 || (embedDim / 2) % (heads / 2) !== 0) return undefined;
    depths.push(depth);
    numHeads.push(heads);
  }
  const hidden = shapeOf(sd, `${blockKey(0, 0)}.ffn.fc1.weight`, 2)?.[0];
  const resiConnection = residualConnection(sd, 'conv_after_body');
  if (!hidden || hidden % 2 !== 0 || !resiConnection) return undefined;
  let upsampler: string;
  let scale: number | undefined;
  let numFeat: number | undefined;
  if (sd.has('conv_last.weight')) {
    upsampler = 'pixelshuffle';
    numFeat = shapeOf(sd, 'conv_before_upsample.0.weight', 4)?.[0];
    scale = numFeat ? pixelshuffleScale(sd, 'upsample', numFeat) : undefined;
    if (shapeOf(sd, 'conv_last.weight', 4)?.[0] !== inputChannels) return undefined;
  } else {
    upsampler = 'pixelshuffledirect';
    scale = exactSqrt((shapeOf(sd, 'upsample.0.weight', 4)?.[0] ?? 0) / inputChannels);
  }
  if (!scale) return undefined;
  const params: Record<string, number | string | boolean | number[]> = {
    upsampler,
    embedDim,
    depths,
    numHeads,
    splitSize,
    expansionFactor: hidden / embedDim,
    resiConnection,
    qkvBias: sd.has(`${a0}.qkv.bias`),
  };
  if (numFeat !== undefined) params.numFeat = numFeat;
  const blocks = depths.reduce((a, b) => a + b, 0);
  return {
    arch: 'dat',
    variant: `DAT ${upsampler}, ${blocks} blocks in ${layers} groups, ${embedDim} ch, split ${s0}×${s1}`,
    scale,
    inputChannels,
    outputChannels: inputChannels,
    sizeMultiple: big,
    params,
  };
}

/**
 * DynamicPosBias (residual=False): pos_proj, then three (LayerNorm → ReLU → Linear) stages over
 * every (dy, dx) of a wh×ww window; [(2wh−1)(2ww−1), heads] like a Swin table. Float64 here,
 * rounded once to float32.
 */
export function dynamicPositionTable(
  sd: StateDict,
  prefix: string,
  wh: number,
  ww: number,
  counter: ParamCounter,
): WeightTensor {
  let rowsIn: number[][] = [];
  for (let dy = 1 - wh; dy < wh; dy++) for (let dx = 1 - ww; dx < ww; dx++) rowsIn.push([dy, dx]);
  const lin = (key: string, x: number[][]) => {
    const w = need(sd, `${key}.weight`);
    const b = sd.get(`${key}.bias`);
    const [out, inp] = w.shape as [number, number];
    counter.params += w.data.length + (b?.data.length ?? 0);
    return x.map((r) =>
      Array.from({ length: out }, (_, o) => {
        let acc = b ? b.data[o]! : 0;
        for (let i = 0; i < inp; i++) acc += w.data[o * inp + i]! * r[i]!;
        return acc;
      }),
    );
  };
  const layerNormRelu = (key: string, x: number[][]) => {
    const w = need(sd, `${key}.weight`);
    const b = need(sd, `${key}.bias`);
    counter.params += w.data.length + b.data.length;
    return x.map((r) => {
      const mean = r.reduce((a, v) => a + v, 0) / r.length;
      const variance = r.reduce((a, v) => a + (v - mean) ** 2, 0) / r.length;
      const inv = 1 / Math.sqrt(variance + 1e-5);
      return r.map((v, i) => Math.max(0, (v - mean) * inv * w.data[i]! + b.data[i]!));
    });
  };
  rowsIn = lin(`${prefix}.pos_proj`, rowsIn);
  for (const stage of ['pos1', 'pos2', 'pos3']) {
    rowsIn = lin(`${prefix}.${stage}.2`, layerNormRelu(`${prefix}.${stage}.0`, rowsIn));
  }
  const heads = rowsIn[0]!.length;
  return { shape: [rowsIn.length, heads], data: Float32Array.from(rowsIn.flat()) };
}

/** (yi − yj + wh − 1)·(2ww − 1) + (xi − xj + ww − 1) over a wh×ww window. */
export function rectanglePositionIndex(wh: number, ww: number): Int32Array {
  const n = wh * ww;
  const out = new Int32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const dy = Math.floor(i / ww) - Math.floor(j / ww) + wh - 1;
      const dx = (i % ww) - (j % ww) + ww - 1;
      out[i * n + j] = dy * (2 * ww - 1) + dx;
    }
  }
  return out;
}

interface DatGraph {
  readonly g: GraphBuilder;
  readonly sd: StateDict;
  readonly counter: ParamCounter;
  readonly c: number;
  /** The unpadded image: hp/wp are H/W (for token ↔ image reshapes). */
  readonly image: WindowGrid;
  /** One grid per branch: s0×s1 and s1×s0 windows over the image padded to max(s0, s1). */
  readonly branches: readonly [WindowGrid, WindowGrid];
  readonly masks: Map<number, string>;
  /** Shape vectors by label, built once. */
  readonly shapes: Map<string, string>;
}

function shapeOnce(d: DatGraph, label: string, parts: readonly (Int64Value | number)[]): string {
  let v = d.shapes.get(label);
  if (!v) {
    v = shapeVector(d.g, parts, label);
    d.shapes.set(label, v);
  }
  return v;
}

function bn(d: DatGraph, x: string, key: string): string {
  const t = (label: string) => need(d.sd, `${key}.${label}`);
  return batchNorm(
    d.g,
    x,
    key,
    { weight: t('weight'), bias: t('bias'), mean: t('running_mean'), variance: t('running_var') },
    d.counter,
  );
}

function conv(d: DatGraph, x: string, key: string, opts: { group?: number; area?: number } = {}): string {
  const w = need(d.sd, `${key}.weight`);
  return conv2d(d.g, x, key, w, d.sd.get(`${key}.bias`), d.counter, opts.area ?? 1, {
    group: opts.group ?? 1,
  });
}

/** The conv branch and the two gates both attention kinds share. */
function interactions(d: DatGraph, prefix: string) {
  const { g } = d;
  return {
    dwconv: (v: string) =>
      gelu(
        g,
        bn(d, conv(d, v, `${prefix}.dwconv.0`, { group: d.c }), `${prefix}.dwconv.1`),
        `${prefix}_dw_gelu`,
      ),
    channel: (x: string) => {
      const k = `${prefix}.channel_interaction`;
      const pooled = g.node('GlobalAveragePool', [x], {}, `${k}_pool`);
      const hidden = gelu(g, bn(d, conv(d, pooled, `${k}.1`, { area: 0 }), `${k}.2`), `${k}_gelu`);
      return g.node('Sigmoid', [conv(d, hidden, `${k}.4`, { area: 0 })], {}, `${k}_sigmoid`);
    },
    spatial: (x: string) => {
      const k = `${prefix}.spatial_interaction`;
      const hidden = gelu(g, bn(d, conv(d, x, `${k}.0`), `${k}.1`), `${k}_gelu`);
      return g.node('Sigmoid', [conv(d, hidden, `${k}.3`)], {}, `${k}_sigmoid`);
    },
  };
}

function spatialAttention(d: DatGraph, x: string, prefix: string, heads: number, shifted: boolean): string {
  const { g, sd, c, counter, image } = d;
  const half = c / 2;
  const branchHeads = heads / 2;
  const hd = half / branchHeads;
  const qkvW = need(sd, `${prefix}.qkv.weight`, [3 * c, c]);
  const qkvB = sd.get(`${prefix}.qkv.bias`);
  const project = (from: number, to: number, s: number, label: string) =>
    gemm(g, x, `${prefix}.${label}`, rows(qkvW, from, to, s), qkvB && rows(qkvB, from, to, s), counter);
  const v = project(2 * c, 3 * c, 1, 'v');
  const outs = d.branches.map((grid, b) => {
    const key = `${prefix}.attns.${b}`;
    const { wh, ww } = grid;
    const [sh, sw] = shifted ? [Math.floor(wh / 2), Math.floor(ww / 2)] : [0, 0];
    // Zero-pad after the projection (q = k = v = 0 on padding, as the reference), then shift.
    const prepare = (t: string, label: string) => {
      const hwc = reshape(
        g,
        t,
        shapeOnce(d, 'dat_hwc_half', [image.hp, image.wp, half]),
        `${key}_${label}_hwc`,
      );
      const padded = g.node('Pad', [hwc, padsFor(d, grid)], {}, `${key}_${label}_pad`);
      const rolled = roll(
        g,
        roll(g, padded, 0, -sh, `${key}_${label}_roll_h`),
        1,
        -sw,
        `${key}_${label}_roll_w`,
      );
      return toWindowHeads(g, rolled, grid, branchHeads, hd, `${key}_${label}`);
    };
    const q = prepare(project(b * half, (b + 1) * half, hd ** -0.5, `q${b}`), 'q');
    const k = prepare(project(c + b * half, c + (b + 1) * half, 1, `k${b}`), 'k');
    const vb = prepare(slice(g, v, 1, b * half, (b + 1) * half, `${key}_v_half`), 'v');
    const n = wh * ww;
    counter.flopsPerInputPixel += 4 * n * half;
    const table = dynamicPositionTable(sd, `${key}.pos`, wh, ww, counter);
    const bias = g.tensor(`${key}.bias`, gatherBias(table, rectanglePositionIndex(wh, ww), n, n), [
      branchHeads,
      n,
      n,
    ]);
    let mask: string | undefined;
    if (shifted) {
      mask = d.masks.get(b);
      if (!mask) {
        mask = shiftMask(g, grid, sh, `shift_mask_${b}`, sw);
        d.masks.set(b, mask);
      }
    }
    const out = fromWindowHeads(
      g,
      attend(g, q, k, vb, bias, mask, `${key}_attend`),
      grid,
      branchHeads,
      hd,
      `${key}_tokens`,
    );
    const hwc = reshape(
      g,
      out,
      shapeOnce(d, 'dat_padded_hwc_half', [grid.hp, grid.wp, half]),
      `${key}_out_hwc`,
    );
    const back = roll(g, roll(g, hwc, 0, sh, `${key}_unroll_h`), 1, sw, `${key}_unroll_w`);
    const cropped = g.node(
      'Slice',
      [back, g.int64s(`${key}.crop_starts`, [0, 0]), cropEnds(d), g.int64s(`${key}.crop_axes`, [0, 1])],
      {},
      `${key}_crop`,
    );
    return reshape(g, cropped, [-1, half], `${key}_out`);
  });
  const attended = toImage(g, concat(g, outs, 1, `${prefix}_attended`), image, c, `${prefix}_attended_image`);
  const mix = interactions(d, prefix);
  const convX = mix.dwconv(toImage(g, v, image, c, `${prefix}_v_image`));
  const gatedAttn = g.node('Mul', [attended, mix.channel(convX)], {}, `${prefix}_attn_gated`);
  const gatedConv = g.node('Mul', [mix.spatial(attended), convX], {}, `${prefix}_conv_gated`);
  const sum = toTokens(
    g,
    g.node('Add', [gatedAttn, gatedConv], {}, `${prefix}_mixed`),
    c,
    `${prefix}_mixed_tokens`,
  );
  return gemm(
    g,
    sum,
    `${prefix}.proj`,
    need(sd, `${prefix}.proj.weight`),
    sd.get(`${prefix}.proj.bias`),
    counter,
  );
}

function channelAttention(d: DatGraph, x: string, prefix: string, heads: number): string {
  const { g, sd, c, counter } = d;
  const hd = c / heads;
  const qkvW = need(sd, `${prefix}.qkv.weight`, [3 * c, c]);
  const qkvB = sd.get(`${prefix}.qkv.bias`);
  // Channels-first projections [C, HW] straight from Gemm(W, xᵀ): no Transpose of the tokens.
  const project = (part: number, label: string) => {
    const w = rows(qkvW, part * c, (part + 1) * c);
    counter.params += w.data.length;
    counter.flopsPerInputPixel += 2 * c * c;
    const inputs = [g.tensor(`${prefix}.${label}.weight`, w.data, [c, c]), x];
    if (qkvB) {
      const b = rows(qkvB, part * c, (part + 1) * c);
      counter.params += b.data.length;
      inputs.push(g.tensor(`${prefix}.${label}.bias`, b.data, [c, 1]));
    }
    return reshape(
      g,
      g.node('Gemm', inputs, { transB: 1 }, `${prefix}.${label}`),
      [heads, hd, -1],
      `${prefix}_${label}_heads`,
    );
  };
  const q = l2Normalize(g, project(0, 'q'), `${prefix}_q_norm`);
  const k = l2Normalize(g, project(1, 'k'), `${prefix}_k_norm`);
  const v = project(2, 'v');
  const temperature = need(sd, `${prefix}.temperature`, [heads, 1, 1]);
  counter.params += heads;
  counter.flopsPerInputPixel += 4 * hd * c;
  const kT = transpose(g, k, [0, 2, 1], `${prefix}_kT`);
  const scores = g.node('MatMul', [q, kT], {}, `${prefix}_scores`);
  const scaled = g.node(
    'Mul',
    [scores, g.tensor(`${prefix}.temperature`, temperature.data, [heads, 1, 1])],
    {},
    `${prefix}_scaled`,
  );
  const probs = g.node('Softmax', [scaled], { axis: -1 }, `${prefix}_softmax`);
  const imageShape = imageShapeOf(d);
  const attended = reshape(
    g,
    g.node('MatMul', [probs, v], {}, `${prefix}_attended`),
    imageShape,
    `${prefix}_attended_image`,
  );
  const mix = interactions(d, prefix);
  const convX = mix.dwconv(reshape(g, v, imageShape, `${prefix}_v_image`));
  const gatedAttn = g.node('Mul', [attended, mix.spatial(convX)], {}, `${prefix}_attn_gated`);
  const gatedConv = g.node('Mul', [convX, mix.channel(attended)], {}, `${prefix}_conv_gated`);
  const sum = toTokens(
    g,
    g.node('Add', [gatedAttn, gatedConv], {}, `${prefix}_mixed`),
    c,
    `${prefix}_mixed_tokens`,
  );
  return gemm(
    g,
    sum,
    `${prefix}.proj`,
    need(sd, `${prefix}.proj.weight`),
    sd.get(`${prefix}.proj.bias`),
    counter,
  );
}

/** SGFN: fc1 → GELU, split in halves; the second half gated through LayerNorm + depthwise conv. */
function sgfn(d: DatGraph, x: string, prefix: string): string {
  const { g, sd, counter, image } = d;
  const fc1W = need(sd, `${prefix}.fc1.weight`);
  const fc1B = sd.get(`${prefix}.fc1.bias`);
  const half = fc1W.shape[0]! / 2;
  const part = (p: number) =>
    gelu(
      g,
      gemm(
        g,
        x,
        `${prefix}.fc1_${p}`,
        rows(fc1W, p * half, (p + 1) * half),
        fc1B && rows(fc1B, p * half, (p + 1) * half),
        counter,
      ),
      `${prefix}_gelu${p}`,
    );
  const x1 = part(0);
  const normed = norm(g, sd, part(1), `${prefix}.sg.norm`, counter);
  const gate = toTokens(
    g,
    conv(d, toImage(g, normed, image, half, `${prefix}_gate_image`), `${prefix}.sg.conv`, { group: half }),
    half,
    `${prefix}_gate`,
  );
  const gated = g.node('Mul', [x1, gate], {}, `${prefix}_gated`);
  return gemm(
    g,
    gated,
    `${prefix}.fc2`,
    need(sd, `${prefix}.fc2.weight`),
    sd.get(`${prefix}.fc2.bias`),
    counter,
  );
}

const padCache = new WeakMap<WindowGrid, string>();
function padsFor(d: DatGraph, grid: WindowGrid): string {
  let v = padCache.get(grid);
  if (!v) {
    const padH = intOp(d.g, 'Sub', grid.hp, d.image.hp, 'dat_pad_h');
    const padW = intOp(d.g, 'Sub', grid.wp, d.image.wp, 'dat_pad_w');
    v = shapeVector(d.g, [0, 0, 0, padH, padW, 0], 'dat_pads');
    padCache.set(grid, v);
  }
  return v;
}

const cropCache = new WeakMap<DatGraph, string>();
function cropEnds(d: DatGraph): string {
  let v = cropCache.get(d);
  if (!v) {
    v = concat(d.g, [d.image.hp, d.image.wp], 0, 'dat_crop_ends');
    cropCache.set(d, v);
  }
  return v;
}

const imageShapeCache = new WeakMap<DatGraph, string>();
function imageShapeOf(d: DatGraph): string {
  let v = imageShapeCache.get(d);
  if (!v) {
    v = shapeVector(d.g, [1, d.c, d.image.hp, d.image.wp], 'dat_image_shape');
    imageShapeCache.set(d, v);
  }
  return v;
}

function build(sd: StateDict, det: ArchDetection) {
  const p = det.params;
  const c = p.embedDim as number;
  const [s0, s1] = p.splitSize as [number, number];
  const depths = p.depths as number[];
  const heads = p.numHeads as number[];
  const s = det.scale;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('dat');
  const channels = det.inputChannels;
  const input = g.input('input', [1, channels, 'height', 'width']);
  const h = shapeOfValue(g, input, 2, 3, 'in_h');
  const w = shapeOfValue(g, input, 3, 4, 'in_w');
  const m = Math.max(s0, s1);
  const padded = (side: Int64Value, label: string) =>
    intOp(
      g,
      'Add',
      side,
      intOp(
        g,
        'Mod',
        intOp(g, 'Sub', g.int64s(`${label}.m`, [m]), intOp(g, 'Mod', side, m, `${label}_r`), `${label}_d`),
        m,
        `${label}_pad`,
      ),
      label,
    );
  const hp = padded(h, 'dat_hp');
  const wp = padded(w, 'dat_wp');
  const branch = (wh: number, ww: number, label: string): WindowGrid => ({
    ws: 0,
    wh,
    ww,
    h,
    w,
    hp,
    wp,
    nWh: intOp(g, 'Div', hp, wh, `${label}_nwh`),
    nWw: intOp(g, 'Div', wp, ww, `${label}_nww`),
  });
  const d: DatGraph = {
    g,
    sd,
    counter,
    c,
    image: { ws: 0, wh: 1, ww: 1, h, w, hp: h, wp: w, nWh: h, nWw: w },
    branches: [branch(s0, s1, 'branch0'), branch(s1, s0, 'branch1')],
    masks: new Map(),
    shapes: new Map(),
  };
  const mean = channels === 3 ? g.tensor('rgb_mean', Float32Array.from(RGB_MEAN), [1, 3, 1, 1]) : undefined;
  const x = mean ? g.node('Sub', [input, mean], {}, 'sub_mean') : input;
  const first = conv(d, x, 'conv_first');
  let t = norm(g, sd, toTokens(g, first, c, 'tokens'), 'before_RG.1', counter);
  depths.forEach((depth, i) => {
    let y = t;
    for (let j = 0; j < depth; j++) {
      const b = blockKey(i, j);
      const normed = norm(g, sd, y, `${b}.norm1`, counter);
      const attn =
        j % 2 === 0
          ? spatialAttention(d, normed, `${b}.attn`, heads[i]!, isShifted(i, j))
          : channelAttention(d, normed, `${b}.attn`, heads[i]!);
      y = g.node('Add', [y, attn], {}, `${b}_attn_res`);
      y = g.node('Add', [y, sgfn(d, norm(g, sd, y, `${b}.norm2`, counter), `${b}.ffn`)], {}, `${b}_ffn_res`);
    }
    const kind = residualConnection(sd, `layers.${i}.conv`) ?? (p.resiConnection as string);
    const convd = residualConv(
      g,
      sd,
      toImage(g, y, d.image, c, `layers.${i}_image`),
      `layers.${i}.conv`,
      kind,
      counter,
    );
    t = g.node('Add', [t, toTokens(g, convd, c, `layers.${i}_tokens`)], {}, `layers.${i}_res`);
  });
  const body = toImage(g, norm(g, sd, t, 'norm', counter), d.image, c, 'body');
  const feat = g.node(
    'Add',
    [residualConv(g, sd, body, 'conv_after_body', p.resiConnection as string, counter), first],
    {},
    'body_res',
  );
  let out: string;
  if (p.upsampler === 'pixelshuffle') {
    const before = leakyRelu(g, conv(d, feat, 'conv_before_upsample.0'), 0.01, 'before_upsample');
    out = conv(d, pixelshuffleUpsample(g, sd, before, 'upsample', s, counter), 'conv_last', { area: s * s });
  } else {
    out = pixelShuffle(g, conv(d, feat, 'upsample.0'), s, 'upsample_shuffle');
  }
  if (mean) out = g.node('Add', [out, mean], {}, 'add_mean');
  g.output(out, 'output', [1, channels, 'out_height', 'out_width']);
  return graphResult(g, det, counter);
}

export const dat: Architecture = { id: 'dat', name: 'DAT (Dual Aggregation Transformer)', detect, build };

/**
 * SwinIR (Liang et al. 2021, github.com/JingyunLiang/SwinIR): residual Swin transformer groups
 * between convolutions, with the paper's four reconstruction heads: classical `pixelshuffle`,
 * lightweight `pixelshuffledirect`, real-SR `nearest+conv`, and none (denoising / JPEG, 1×).
 *
 * Hyperparameters come from keys and shapes, as spandrel infers them: embed_dim from
 * conv_first, window size from the relative-position tables ((2ws−1)² rows), heads from their
 * columns, depths from the block lists, mlp_ratio from fc1, '1conv'/'3conv' from the residual
 * convolutions, the scale from the upsampler's convolutions. Window-7 models are the JPEG ones,
 * which run on 0–255 (spandrel's rule; the stored weights cannot tell).
 */
import { GraphBuilder } from '../../onnx/builder.js';
import { conv2d, leakyRelu, type ParamCounter, pixelShuffle, upsampleNearest } from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { exactSqrt, need, sequenceLength, shapeOf } from './keys.js';
import {
  cropToInput,
  mlp,
  norm,
  padToWindows,
  shiftMask,
  toImage,
  toTokens,
  type WindowGrid,
  windowSelfAttention,
} from './windows.js';

/** BasicSR's DIV2K mean, subtracted from RGB input by SwinIR and HAT. */
export const RGB_MEAN = [0.4488, 0.4371, 0.404] as const;

type Upsampler = 'pixelshuffle' | 'pixelshuffledirect' | 'nearest+conv' | '';

const VARIANTS: Record<Upsampler, string> = {
  pixelshuffle: 'classical (pixelshuffle)',
  pixelshuffledirect: 'lightweight (pixelshuffledirect)',
  'nearest+conv': 'real-SR (nearest+conv)',
  '': 'restoration (no upsampler)',
};

const block = (i: number, j: number) => `layers.${i}.residual_group.blocks.${j}`;

/** '1conv' (`prefix.weight`) or '3conv' (`prefix.0/2/4.weight`); undefined if neither. */
export function residualConnection(sd: StateDict, prefix: string): '1conv' | '3conv' | undefined {
  if (sd.has(`${prefix}.weight`)) return '1conv';
  if (sd.has(`${prefix}.0.weight`) && sd.has(`${prefix}.2.weight`) && sd.has(`${prefix}.4.weight`))
    return '3conv';
  return undefined;
}

/**
 * Scale of a BasicSR `Upsample` under `prefix` (conv, PixelShuffle pairs: ×2 stages or one ×3),
 * with `numFeat` channels; undefined if the shapes do not fit.
 */
export function pixelshuffleScale(sd: StateDict, prefix: string, numFeat: number): number | undefined {
  let scale = 1;
  for (let i = 0; ; i += 2) {
    const s = shapeOf(sd, `${prefix}.${i}.weight`, 4);
    if (!s) break;
    if (s[1] !== numFeat) return undefined;
    if (s[0] === 4 * numFeat) scale *= 2;
    else if (s[0] === 9 * numFeat && i === 0) scale *= 3;
    else return undefined;
  }
  return scale > 1 ? scale : undefined;
}

/** Window size and heads of a (2ws−1)² × nH relative-position table. */
export function windowOfTable(
  shape: readonly number[] | undefined,
): { ws: number; heads: number } | undefined {
  if (!shape || shape.length !== 2) return undefined;
  const side = exactSqrt(shape[0]!);
  if (side === undefined || side % 2 === 0) return undefined;
  return { ws: (side + 1) / 2, heads: shape[1]! };
}

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'conv_first.weight', 4);
  if (!first || !sd.has(`${block(0, 0)}.norm1.weight`) || !sd.has(`${block(0, 0)}.mlp.fc1.weight`))
    return undefined;
  // HAT (conv_block), Swin2SR (logit_scale) and SwinIR with absolute position embeddings or a
  // pixel-unshuffle stem are other networks or unsupported variants.
  if (sd.has(`${block(0, 0)}.conv_block.cab.0.weight`) || sd.has(`${block(0, 0)}.attn.logit_scale`))
    return undefined;
  if (sd.has('absolute_pos_embed') || sd.has('conv_first.1.weight')) return undefined;
  const [embedDim, inputChannels] = first as [number, number];
  const layers = sequenceLength(sd, 'layers');
  if (layers === 0) return undefined;
  const depths: number[] = [];
  const numHeads: number[] = [];
  let windowSize = 0;
  for (let i = 0; i < layers; i++) {
    const depth = sequenceLength(sd, `layers.${i}.residual_group.blocks`);
    const win = windowOfTable(shapeOf(sd, `${block(i, 0)}.attn.relative_position_bias_table`));
    if (depth === 0 || !win || embedDim % win.heads !== 0) return undefined;
    if (windowSize !== 0 && win.ws !== windowSize) return undefined;
    windowSize = win.ws;
    depths.push(depth);
    numHeads.push(win.heads);
  }
  const hidden = shapeOf(sd, `${block(0, 0)}.mlp.fc1.weight`, 2)?.[0];
  const resiConnection = residualConnection(sd, 'conv_after_body');
  if (!hidden || !resiConnection) return undefined;

  let upsampler: Upsampler;
  let scale: number | undefined;
  let numFeat: number | undefined;
  const outputChannels = shapeOf(sd, 'conv_last.weight', 4)?.[0] ?? inputChannels;
  if (sd.has('conv_before_upsample.0.weight')) {
    numFeat = shapeOf(sd, 'conv_before_upsample.0.weight', 4)?.[0];
    if (!numFeat) return undefined;
    if (sd.has('conv_up1.weight')) {
      upsampler = 'nearest+conv';
      scale = sd.has('conv_up3.weight') ? 8 : sd.has('conv_up2.weight') ? 4 : 2;
    } else {
      upsampler = 'pixelshuffle';
      scale = pixelshuffleScale(sd, 'upsample', numFeat);
    }
  } else if (sd.has('upsample.0.weight')) {
    upsampler = 'pixelshuffledirect';
    const out = shapeOf(sd, 'upsample.0.weight', 4)?.[0] ?? 0;
    scale = exactSqrt(out / inputChannels);
  } else {
    upsampler = '';
    scale = 1;
  }
  // The output adds back the input's mean per channel, so it has the input's channels.
  if (!scale || outputChannels !== inputChannels) return undefined;

  const params: Record<string, number | string | boolean | number[]> = {
    upsampler,
    embedDim,
    depths,
    numHeads,
    windowSize,
    mlpRatio: hidden / embedDim,
    resiConnection,
    imgRange: windowSize === 7 ? 255 : 1,
    qkvBias: sd.has(`${block(0, 0)}.attn.qkv.bias`),
  };
  if (numFeat !== undefined) params.numFeat = numFeat;
  const blocks = depths.reduce((a, b) => a + b, 0);
  return {
    arch: 'swinir',
    variant: `SwinIR ${VARIANTS[upsampler]}, ${blocks} blocks in ${layers} groups, ${embedDim} ch, window ${windowSize}`,
    scale,
    inputChannels,
    outputChannels,
    sizeMultiple: windowSize,
    params,
  };
}

/** The residual conv ('1conv' or '3conv') under `prefix` on an NCHW tensor. */
export function residualConv(
  g: GraphBuilder,
  sd: StateDict,
  x: string,
  prefix: string,
  kind: string,
  counter: ParamCounter,
): string {
  const conv = (input: string, key: string) =>
    conv2d(g, input, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter);
  if (kind === '1conv') return conv(x, prefix);
  let y = leakyRelu(g, conv(x, `${prefix}.0`), 0.2, `${prefix}_lrelu1`);
  y = leakyRelu(g, conv(y, `${prefix}.2`), 0.2, `${prefix}_lrelu2`);
  return conv(y, `${prefix}.4`);
}

/** The shared stem: pad, subtract the mean, scale; returns the padded, normalised NCHW input. */
export function normaliseInput(
  g: GraphBuilder,
  channels: number,
  ws: number,
  imgRange: number,
): { x: string; grid: WindowGrid; mean: string | undefined } {
  const input = g.input('input', [1, channels, 'height', 'width']);
  const { padded, grid } = padToWindows(g, input, ws);
  const mean = channels === 3 ? g.tensor('rgb_mean', Float32Array.from(RGB_MEAN), [1, 3, 1, 1]) : undefined;
  let x = mean ? g.node('Sub', [padded, mean], {}, 'sub_mean') : padded;
  if (imgRange !== 1) x = g.node('Mul', [x, g.scalar('img_range', imgRange)], {}, 'to_range');
  return { x, grid, mean };
}

/** The shared tail: back to [0, 1], add the mean, crop the padding; marks the graph output. */
export function denormaliseOutput(
  g: GraphBuilder,
  x: string,
  grid: WindowGrid,
  mean: string | undefined,
  imgRange: number,
  scale: number,
  channels: number,
): void {
  if (imgRange !== 1) x = g.node('Div', [x, g.scalar('img_range_out', imgRange)], {}, 'from_range');
  if (mean) x = g.node('Add', [x, mean], {}, 'add_mean');
  g.output(cropToInput(g, x, grid, scale), 'output', [1, channels, 'out_height', 'out_width']);
}

/** BasicSR's `Upsample` (conv + PixelShuffle stages) under `prefix`. */
export function pixelshuffleUpsample(
  g: GraphBuilder,
  sd: StateDict,
  x: string,
  prefix: string,
  scale: number,
  counter: ParamCounter,
): string {
  const stages = scale === 3 ? [3] : Array.from({ length: Math.log2(scale) }, () => 2);
  let area = 1;
  stages.forEach((r, i) => {
    const key = `${prefix}.${2 * i}`;
    x = conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area);
    x = pixelShuffle(g, x, r, `${key}_shuffle`);
    area *= r * r;
  });
  return x;
}

function build(sd: StateDict, det: ArchDetection) {
  const p = det.params;
  const ws = p.windowSize as number;
  const c = p.embedDim as number;
  const depths = p.depths as number[];
  const heads = p.numHeads as number[];
  const imgRange = p.imgRange as number;
  const upsampler = p.upsampler as Upsampler;
  const s = det.scale;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('swinir');
  const conv = (x: string, key: string, area = 1) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area);

  const { x, grid, mean } = normaliseInput(g, det.inputChannels, ws, imgRange);
  const first = conv(x, 'conv_first');
  let t = toTokens(g, first, c, 'tokens');
  if (sd.has('patch_embed.norm.weight')) t = norm(g, sd, t, 'patch_embed.norm', counter);
  const shift = Math.floor(ws / 2);
  const mask = depths.some((d) => d > 1) ? shiftMask(g, grid, shift, 'shift_mask') : undefined;
  depths.forEach((depth, i) => {
    let y = t;
    for (let j = 0; j < depth; j++) {
      const b = block(i, j);
      const attn = windowSelfAttention(g, sd, norm(g, sd, y, `${b}.norm1`, counter), `${b}.attn`, {
        grid,
        heads: heads[i]!,
        channels: c,
        shift: j % 2 === 0 ? 0 : shift,
        mask,
        counter,
      });
      y = g.node('Add', [y, attn], {}, `${b}_attn_res`);
      y = g.node(
        'Add',
        [y, mlp(g, sd, norm(g, sd, y, `${b}.norm2`, counter), `${b}.mlp`, counter)],
        {},
        `${b}_mlp_res`,
      );
    }
    const kind = residualConnection(sd, `layers.${i}.conv`) ?? (p.resiConnection as string);
    const convd = residualConv(
      g,
      sd,
      toImage(g, y, grid, c, `layers.${i}_image`),
      `layers.${i}.conv`,
      kind,
      counter,
    );
    t = g.node('Add', [toTokens(g, convd, c, `layers.${i}_tokens`), t], {}, `layers.${i}_res`);
  });
  const body = toImage(g, norm(g, sd, t, 'norm', counter), grid, c, 'body');
  const feat = g.node(
    'Add',
    [residualConv(g, sd, body, 'conv_after_body', p.resiConnection as string, counter), first],
    {},
    'body_res',
  );

  let out: string;
  if (upsampler === 'pixelshuffle') {
    const before = leakyRelu(g, conv(feat, 'conv_before_upsample.0'), 0.01, 'before_upsample');
    out = conv(pixelshuffleUpsample(g, sd, before, 'upsample', s, counter), 'conv_last', s * s);
  } else if (upsampler === 'pixelshuffledirect') {
    out = pixelShuffle(g, conv(feat, 'upsample.0'), s, 'upsample_shuffle');
  } else if (upsampler === 'nearest+conv') {
    let y = leakyRelu(g, conv(feat, 'conv_before_upsample.0'), 0.01, 'before_upsample');
    let area = 1;
    for (let k = 1; 2 ** k <= s; k++) {
      area *= 4;
      y = upsampleNearest(g, y, 2, `up${k}`);
      y = leakyRelu(g, conv(y, `conv_up${k}`, area), 0.2, `up${k}_lrelu`);
    }
    out = conv(leakyRelu(g, conv(y, 'conv_hr', area), 0.2, 'hr_lrelu'), 'conv_last', area);
  } else {
    out = g.node('Add', [x, conv(feat, 'conv_last')], {}, 'restored');
  }
  denormaliseOutput(g, out, grid, mean, imgRange, s, det.outputChannels);
  return graphResult(g, det, counter);
}

export const swinir: Architecture = { id: 'swinir', name: 'SwinIR', detect, build };

/**
 * CodeFormer (sczhou/CodeFormer, Zhou et al. 2022): a face restorer. A VQGAN encoder (ResBlocks
 * with GroupNorm(32)+swish, stride-2 downsamplings, non-local attention at the latent side) maps
 * the aligned face to a 16×16 latent; a transformer (pre-norm self-attention with learned
 * position embeddings added to queries and keys, GELU MLP) predicts, per latent position, logits
 * over the codebook; the argmax code's vector, AdaIN-matched to the encoder's latent (as
 * inference_codeformer.py runs it, `adain=True`), goes through the VQGAN generator; at the sides
 * in `connect_list` (32…256 in the release) a controllable feature transformation adds
 * w·(dec·scale + shift), with scale and shift computed from the encoder's features at that side.
 *
 * The graph takes `input` [1, 3, S, S] RGB in [0, 1] and `w` [1] (fidelity, 0…1: 0 uses the
 * codebook alone, 1 leans most on the input), normalises (x − 0.5)/0.5 and returns (y + 1)/2
 * clamped to [0, 1]. The reference skips the fusion when w = 0; the graph always computes it and
 * multiplies by w, which is the same output.
 *
 * Everything is read from the weights (block layout, widths, latent side from position_emb,
 * face side from the number of downsamplings, connected sides from fuse_convs_dict) except the
 * head count, which a state dict does not record: 8, the released model's.
 */
import { float, GraphBuilder } from '../../onnx/builder.js';
import { concat, gelu, gemm, layerNorm, type ParamCounter, reshape, transpose } from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict, TorchTensor } from '../types.js';
import { exactSqrt, need, sequenceLength, shapeOf } from './keys.js';
import { vqganOps } from './vqgan.js';

const HEADS = 8;

type BlockKind = 'conv' | 'norm' | 'res' | 'attn' | 'resample';

interface Block {
  readonly key: string;
  readonly kind: BlockKind;
  /** Side of the block's output. */
  readonly side: number;
}

function blockKind(sd: StateDict, key: string): BlockKind | undefined {
  if (sd.has(`${key}.norm1.weight`)) return 'res';
  if (sd.has(`${key}.q.weight`)) return 'attn';
  if (sd.has(`${key}.conv.weight`)) return 'resample';
  if (shapeOf(sd, `${key}.weight`, 4)) return 'conv';
  if (shapeOf(sd, `${key}.weight`, 1)) return 'norm';
  return undefined;
}

/** The blocks of `encoder` or `generator` with their output sides; undefined when a block is unknown. */
function blocks(sd: StateDict, part: 'encoder' | 'generator', side: number): Block[] | undefined {
  const out: Block[] = [];
  const n = sequenceLength(sd, `${part}.blocks`);
  for (let i = 0; i < n; i++) {
    const key = `${part}.blocks.${i}`;
    const kind = blockKind(sd, key);
    if (!kind) return undefined;
    if (kind === 'resample') side = part === 'encoder' ? side / 2 : side * 2;
    out.push({ key, kind, side });
  }
  return out;
}

/**
 * Index of the block after which each side's features are taken (encoder) or fused (generator),
 * by the rule behind CodeFormer's tables: the encoder's second ResBlock at that side; the
 * generator's first, or its fourth at the latent side (after the non-local blocks).
 */
function fuseIndex(
  list: readonly Block[],
  side: number,
  encoder: boolean,
  latent: number,
): number | undefined {
  const res = list.flatMap((b, i) => (b.kind === 'res' && b.side === side ? [i] : []));
  return res[encoder ? 1 : side === latent ? 3 : 0];
}

function detect(sd: StateDict): ArchDetection | undefined {
  const pos = shapeOf(sd, 'position_emb', 2);
  const featEmb = shapeOf(sd, 'feat_emb.weight', 2);
  const codebook = shapeOf(sd, 'quantize.embedding.weight', 2);
  const head = shapeOf(sd, 'idx_pred_layer.1.weight', 2);
  const first = shapeOf(sd, 'encoder.blocks.0.weight', 4);
  if (!pos || !featEmb || !codebook || !head || !first || first[1] !== 3) return undefined;
  const layers = sequenceLength(sd, 'ft_layers');
  const latent = exactSqrt(pos[0]!);
  const dim = pos[1]!;
  if (
    !latent ||
    layers < 1 ||
    dim % HEADS !== 0 ||
    featEmb[0] !== dim ||
    featEmb[1] !== codebook[1] ||
    head[0] !== codebook[0] ||
    head[1] !== dim ||
    !shapeOf(sd, 'ft_layers.0.self_attn.in_proj_weight', 2)
  ) {
    return undefined;
  }
  const enc = blocks(sd, 'encoder', 1);
  if (!enc) return undefined;
  const downs = enc.filter((b) => b.kind === 'resample').length;
  const size = latent * 2 ** downs;
  const encoder = blocks(sd, 'encoder', size);
  const generator = blocks(sd, 'generator', latent);
  if (!encoder || !generator || generator.at(-1)?.side !== size) return undefined;
  const connect: number[] = [];
  for (const k of sd.keys()) {
    const m = /^fuse_convs_dict\.(\d+)\.scale\.0\.weight$/.exec(k);
    if (m) connect.push(Number(m[1]));
  }
  connect.sort((a, b) => a - b);
  for (const s of connect) {
    if (
      fuseIndex(encoder, s, true, latent) === undefined ||
      fuseIndex(generator, s, false, latent) === undefined
    ) {
      return undefined;
    }
  }
  return {
    arch: 'codeformer',
    variant: `CodeFormer (${size}², ${latent}×${latent} latent, ${codebook[0]} codes, ${layers}-layer transformer ${dim} wide, fused at ${connect.join('/') || 'no side'})`,
    scale: 1,
    inputChannels: 3,
    outputChannels: 3,
    sizeMultiple: size,
    params: { face: true, size, latent, dim, heads: HEADS, layers, codebook: codebook[0]!, connect },
  };
}

function build(sd: StateDict, det: ArchDetection) {
  const size = det.params.size as number;
  const latent = det.params.latent as number;
  const dim = det.params.dim as number;
  const layers = det.params.layers as number;
  const connect = det.params.connect as readonly number[];
  const tokens = latent * latent;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('codeformer');
  const perToken = tokens / (size * size);
  const vq = vqganOps(g, sd, counter, size);
  const { conv, groupNorm } = vq;
  const resBlock = (x: string, key: string, side: number) => vq.resBlock(x, key, side, 'conv_out');
  /** VQGAN's single-head attention over the side² positions of NCHW features. */
  const attnBlock = (x: string, key: string, side: number) => {
    const c = need(sd, `${key}.q.weight`).shape[0]!;
    const h = groupNorm(x, `${key}.norm`);
    const flat = (y: string, name: string) => reshape(g, y, [c, -1], name);
    const q = transpose(g, flat(conv(h, `${key}.q`, side), `${key}_q`), [1, 0], `${key}_qt`);
    const k = flat(conv(h, `${key}.k`, side), `${key}_k`);
    const v = flat(conv(h, `${key}.v`, side), `${key}_v`);
    const scores = g.node(
      'Mul',
      [g.node('MatMul', [q, k], {}, `${key}_qk`), g.scalar(`${key}.scale`, c ** -0.5)],
      {},
      `${key}_scores`,
    );
    const attn = g.node('Softmax', [scores], { axis: -1 }, `${key}_softmax`);
    const out = g.node('MatMul', [v, transpose(g, attn, [1, 0], `${key}_attn_t`)], {}, `${key}_out`);
    const back = g.node('Reshape', [out, g.node('Shape', [x], {}, `${key}_shape`)], {}, `${key}_back`);
    return g.node('Add', [x, conv(back, `${key}.proj_out`, side)], {}, key);
  };
  const runBlock = (x: string, b: Block, encoder: boolean) => {
    switch (b.kind) {
      case 'conv':
        return conv(x, b.key, b.side);
      case 'norm':
        return groupNorm(x, b.key);
      case 'res':
        return resBlock(x, b.key, b.side);
      case 'attn':
        return attnBlock(x, b.key, b.side);
      case 'resample':
        return encoder ? vq.downsample(x, `${b.key}.conv`, b.side) : vq.upsample(x, `${b.key}.conv`, b.side);
    }
  };

  // ---- encoder ----
  const input = g.input('input', [1, 3, size, size]);
  const w = g.input('w', [1]);
  let x = vq.normaliseInput(input);
  const encoder = blocks(sd, 'encoder', size)!;
  const generator = blocks(sd, 'generator', latent)!;
  const taken = new Map(connect.map((s) => [fuseIndex(encoder, s, true, latent)!, s]));
  const encoded = new Map<number, string>();
  encoder.forEach((b, i) => {
    x = runBlock(x, b, true);
    const s = taken.get(i);
    if (s !== undefined) encoded.set(s, x);
  });
  const lq = x;

  // ---- transformer over the latent positions, as [tokens, dim] ----
  const emb = need(sd, 'quantize.embedding.weight');
  const embDim = emb.shape[1]!;
  const tokensIn = transpose(g, reshape(g, lq, [embDim, tokens], 'lq_flat'), [1, 0], 'lq_tokens');
  let t = gemm(
    g,
    tokensIn,
    'feat_emb',
    need(sd, 'feat_emb.weight'),
    sd.get('feat_emb.bias'),
    counter,
    perToken,
  );
  const pos = need(sd, 'position_emb', [tokens, dim]);
  counter.params += pos.data.length;
  const posValue = g.tensor('position_emb', pos.data, pos.shape);
  const hd = dim / HEADS;
  const rows = (tensor: TorchTensor, from: number, n: number, cols: number, scale = 1): TorchTensor => ({
    shape: cols > 1 ? [n, cols] : [n],
    data: tensor.data.slice(from * cols, (from + n) * cols).map((v) => v * scale),
  });
  const ln = (y: string, key: string) =>
    layerNorm(g, y, key, need(sd, `${key}.weight`), need(sd, `${key}.bias`), counter);
  for (let l = 0; l < layers; l++) {
    const key = `ft_layers.${l}`;
    const h = ln(t, `${key}.norm1`);
    const qkIn = g.node('Add', [h, posValue], {}, `${key}_with_pos`);
    const inW = need(sd, `${key}.self_attn.in_proj_weight`, [3 * dim, dim]);
    const inB = need(sd, `${key}.self_attn.in_proj_bias`, [3 * dim]);
    const scale = 1 / Math.sqrt(hd);
    // PyTorch scales q by 1/√head_dim after the projection; folded into its weight and bias.
    const q = gemm(
      g,
      qkIn,
      `${key}.q`,
      rows(inW, 0, dim, dim, scale),
      rows(inB, 0, dim, 1, scale),
      counter,
      perToken,
    );
    const k = gemm(g, qkIn, `${key}.k`, rows(inW, dim, dim, dim), rows(inB, dim, dim, 1), counter, perToken);
    const v = gemm(
      g,
      h,
      `${key}.v`,
      rows(inW, 2 * dim, dim, dim),
      rows(inB, 2 * dim, dim, 1),
      counter,
      perToken,
    );
    const heads = (y: string, perm: number[], name: string) =>
      transpose(g, reshape(g, y, [tokens, HEADS, hd], `${name}_split`), perm, name);
    const scores = g.node(
      'MatMul',
      [heads(q, [1, 0, 2], `${key}_qh`), heads(k, [1, 2, 0], `${key}_kh`)],
      {},
      `${key}_scores`,
    );
    const attn = g.node('Softmax', [scores], { axis: -1 }, `${key}_softmax`);
    const ctx = g.node('MatMul', [attn, heads(v, [1, 0, 2], `${key}_vh`)], {}, `${key}_ctx`);
    const merged = reshape(g, transpose(g, ctx, [1, 0, 2], `${key}_ctx_t`), [tokens, dim], `${key}_merged`);
    const attnOut = gemm(
      g,
      merged,
      `${key}.self_attn.out_proj`,
      need(sd, `${key}.self_attn.out_proj.weight`),
      sd.get(`${key}.self_attn.out_proj.bias`),
      counter,
      perToken,
    );
    t = g.node('Add', [t, attnOut], {}, `${key}_attn_res`);
    const m = gemm(
      g,
      ln(t, `${key}.norm2`),
      `${key}.linear1`,
      need(sd, `${key}.linear1.weight`),
      sd.get(`${key}.linear1.bias`),
      counter,
      perToken,
    );
    const ffn = gemm(
      g,
      gelu(g, m, `${key}_gelu`),
      `${key}.linear2`,
      need(sd, `${key}.linear2.weight`),
      sd.get(`${key}.linear2.bias`),
      counter,
      perToken,
    );
    t = g.node('Add', [t, ffn], {}, `${key}_ffn_res`);
  }
  const logits = gemm(
    g,
    ln(t, 'idx_pred_layer.0'),
    'idx_pred_layer.1',
    need(sd, 'idx_pred_layer.1.weight'),
    undefined,
    counter,
    perToken,
  );

  // ---- codebook lookup (argmax of the logits; softmax does not change it), AdaIN to the latent ----
  const codes = g.node('ArgMax', [logits], { axis: 1, keepdims: 0 }, 'codes');
  counter.params += emb.data.length;
  const vectors = g.node(
    'Gather',
    [g.tensor('quantize.embedding', emb.data, emb.shape), codes],
    { axis: 0 },
    'code_vectors',
  );
  const quant = reshape(
    g,
    transpose(g, vectors, [1, 0], 'code_channels'),
    [1, embDim, latent, latent],
    'quant',
  );
  const n = tokens;
  const stats = (y: string, name: string) => {
    const mean = g.node('ReduceMean', [y], { axes: [2, 3], keepdims: 1 }, `${name}_mean`);
    const centred = g.node('Sub', [y, mean], {}, `${name}_centred`);
    const sq = g.node(
      'ReduceMean',
      [g.node('Mul', [centred, centred], {}, `${name}_sq`)],
      { axes: [2, 3], keepdims: 1 },
      `${name}_msq`,
    );
    // torch.var is unbiased: Σ(x − μ)²/(n − 1).
    const variance = g.node('Mul', [sq, g.scalar(`${name}.unbias`, n / (n - 1))], {}, `${name}_var`);
    const std = g.node(
      'Sqrt',
      [g.node('Add', [variance, g.scalar(`${name}.eps`, 1e-5)], {}, `${name}_var_eps`)],
      {},
      `${name}_std`,
    );
    return { mean, centred, std };
  };
  const qs = stats(quant, 'adain_content');
  const ls = stats(lq, 'adain_style');
  x = g.node(
    'Add',
    [
      g.node('Mul', [g.node('Div', [qs.centred, qs.std], {}, 'adain_normed'), ls.std], {}, 'adain_scaled'),
      ls.mean,
    ],
    {},
    'adain',
  );

  // ---- generator, with w-weighted fusion of the encoder features ----
  const fused = new Map(connect.map((s) => [fuseIndex(generator, s, false, latent)!, s]));
  generator.forEach((b, i) => {
    x = runBlock(x, b, false);
    const s = fused.get(i);
    if (s === undefined) return;
    const key = `fuse_convs_dict.${s}`;
    const enc = resBlock(concat(g, [encoded.get(s)!, x], 1, `${key}_cat`), `${key}.encode_enc`, s);
    const branch = (kind: string) =>
      conv(
        g.node(
          'LeakyRelu',
          [conv(enc, `${key}.${kind}.0`, s)],
          { alpha: float(0.2) },
          `${key}_${kind}_lrelu`,
        ),
        `${key}.${kind}.2`,
        s,
      );
    const residual = g.node(
      'Add',
      [g.node('Mul', [x, branch('scale')], {}, `${key}_scaled`), branch('shift')],
      {},
      `${key}_residual`,
    );
    x = g.node('Add', [x, g.node('Mul', [residual, w], {}, `${key}_weighted`)], {}, key);
  });

  const clamped = vq.denormaliseOutput(x);
  g.output(clamped, 'output', [1, 3, size, size]);
  return graphResult(g, det, counter);
}

export const codeformer: Architecture = { id: 'codeformer', name: 'CodeFormer', detect, build };

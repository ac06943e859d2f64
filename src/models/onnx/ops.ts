/**
 * Layer-level helpers over `GraphBuilder` for networks imported from PyTorch: convolutions,
 * linears, LayerNorm, exact GELU, and the shape arithmetic that dynamic H/W graphs need.
 *
 * Weights come in PyTorch's layouts (Conv2d [out, in, kh, kw], Linear [out, in]); each helper
 * adds its learned values to `ParamCounter` so importers report parameters and FLOPs without a
 * second walk.
 */
import { float, type GraphBuilder } from './builder.js';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** Learned parameters and multiply-add FLOPs per input pixel, filled in as layers are added. */
export interface ParamCounter {
  params: number;
  flopsPerInputPixel: number;
}

/** int64 [1] tensors of a graph's dynamic sizes (computed once, shared by every layer). */
export type Int64Value = string;

/**
 * Conv2d with PyTorch's weight layout; `pixelsPerInputPixel` is how many output positions the
 * layer computes per input pixel (4 after one 2× upsampling), for the FLOP count.
 */
export function conv2d(
  g: GraphBuilder,
  x: string,
  name: string,
  weight: WeightTensor,
  bias: WeightTensor | undefined,
  counter: ParamCounter,
  pixelsPerInputPixel = 1,
  opts: { padding?: number; group?: number; stride?: number } = {},
): string {
  const [, , kh, kw] = weight.shape as [number, number, number, number];
  // 'same' padding by default, per axis for rectangular kernels.
  const ph = opts.padding ?? (kh - 1) / 2;
  const pw = opts.padding ?? (kw - 1) / 2;
  const inputs = [x, g.tensor(`${name}.weight`, weight.data, weight.shape)];
  if (bias) inputs.push(g.tensor(`${name}.bias`, bias.data, bias.shape));
  counter.params += weight.data.length + (bias?.data.length ?? 0);
  counter.flopsPerInputPixel += 2 * weight.data.length * pixelsPerInputPixel;
  return g.node(
    'Conv',
    inputs,
    {
      kernel_shape: [kh, kw],
      pads: [ph, pw, ph, pw],
      group: opts.group ?? 1,
      strides: [opts.stride ?? 1, opts.stride ?? 1],
    },
    name,
  );
}

/** [out, in] → [in, out], so that `MatMul(x, Wᵀ)` is PyTorch's `Linear`. */
export function transposed(weight: WeightTensor, scale = 1): Float32Array {
  const [out, inp] = weight.shape as [number, number];
  const t = new Float32Array(out * inp);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inp; i++) t[i * out + o] = weight.data[o * inp + i]! * scale;
  }
  return t;
}

/**
 * `nn.Linear` over the last axis: MatMul with the transposed weight, plus the bias.
 * `tokensPerInputPixel` weights the FLOP count (1 for a token per pixel).
 */
export function linear(
  g: GraphBuilder,
  x: string,
  name: string,
  weight: WeightTensor,
  bias: WeightTensor | undefined,
  counter: ParamCounter,
  tokensPerInputPixel = 1,
): string {
  const [out, inp] = weight.shape as [number, number];
  counter.params += weight.data.length + (bias?.data.length ?? 0);
  counter.flopsPerInputPixel += 2 * out * inp * tokensPerInputPixel;
  const y = g.node('MatMul', [x, g.tensor(`${name}.weight`, transposed(weight), [inp, out])], {}, name);
  return bias ? g.node('Add', [y, g.tensor(`${name}.bias`, bias.data, [out])], {}, `${name}_bias`) : y;
}

/**
 * `nn.Linear` on a 2-D [tokens, in] input as one Gemm (transB reads PyTorch's [out, in] weight
 * as stored; the bias is accumulated by the GEMM instead of a separate Add pass).
 */
export function gemm(
  g: GraphBuilder,
  x: string,
  name: string,
  weight: WeightTensor,
  bias: WeightTensor | undefined,
  counter: ParamCounter,
  tokensPerInputPixel = 1,
): string {
  const [out, inp] = weight.shape as [number, number];
  counter.params += weight.data.length + (bias?.data.length ?? 0);
  counter.flopsPerInputPixel += 2 * out * inp * tokensPerInputPixel;
  const inputs = [x, g.tensor(`${name}.weight`, weight.data, [out, inp])];
  if (bias) inputs.push(g.tensor(`${name}.bias`, bias.data, [out]));
  return g.node('Gemm', inputs, { transB: 1 }, name);
}

/** `nn.LayerNorm(C)` over the last axis (ONNX LayerNormalization, opset 17). */
export function layerNorm(
  g: GraphBuilder,
  x: string,
  name: string,
  weight: WeightTensor,
  bias: WeightTensor,
  counter: ParamCounter,
  epsilon = 1e-5,
): string {
  counter.params += weight.data.length + bias.data.length;
  return g.node(
    'LayerNormalization',
    [
      x,
      g.tensor(`${name}.weight`, weight.data, weight.shape),
      g.tensor(`${name}.bias`, bias.data, bias.shape),
    ],
    { axis: -1, epsilon: float(epsilon) },
    name,
  );
}

/**
 * Exact GELU, x·½·(1 + erf(x/√2)) as PyTorch's `nn.GELU()` computes it. Opset 17 has no Gelu
 * op; this is the Div→Erf→Add→Mul→Mul pattern onnxruntime's GeluFusion turns into one kernel.
 */
export function gelu(g: GraphBuilder, x: string, name: string): string {
  const scaled = g.node('Div', [x, g.scalar(`${name}.sqrt2`, Math.SQRT2)], {}, `${name}_div`);
  const erf = g.node('Erf', [scaled], {}, `${name}_erf`);
  const plus = g.node('Add', [erf, g.scalar(`${name}.one`, 1)], {}, `${name}_add`);
  const times = g.node('Mul', [x, plus], {}, `${name}_mul`);
  return g.node('Mul', [times, g.scalar(`${name}.half`, 0.5)], {}, name);
}

export function leakyRelu(g: GraphBuilder, x: string, slope: number, name: string): string {
  return g.node('LeakyRelu', [x], { alpha: float(slope) }, name);
}

/** PyTorch `nn.PixelShuffle(r)`: ONNX DepthToSpace in CRD mode reads the same channel order. */
export function pixelShuffle(g: GraphBuilder, x: string, r: number, name: string): string {
  return g.node('DepthToSpace', [x], { blocksize: r, mode: 'CRD' }, name);
}

/** `F.interpolate(x, scale_factor=s, mode='nearest')` for an integer s. */
export function upsampleNearest(g: GraphBuilder, x: string, s: number, name: string): string {
  return g.node(
    'Resize',
    [x, '', g.tensor(`${name}.scales`, Float32Array.of(1, 1, s, s), [4])],
    { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    name,
  );
}

export function transpose(g: GraphBuilder, x: string, perm: readonly number[], name: string): string {
  return g.node('Transpose', [x], { perm }, name);
}

/** Reshape to `shape`: a constant list (0 copies, -1 infers) or an int64 tensor built in-graph. */
export function reshape(g: GraphBuilder, x: string, shape: readonly number[] | string, name: string): string {
  const s = typeof shape === 'string' ? shape : g.int64s(`${name}.shape`, shape);
  return g.node('Reshape', [x, s], {}, name);
}

/** Slice one axis with constant bounds (negative counts from the end, as in Python). */
export function slice(
  g: GraphBuilder,
  x: string,
  axis: number,
  start: number,
  end: number,
  name: string,
): string {
  return g.node(
    'Slice',
    [
      x,
      g.int64s(`${name}.starts`, [start]),
      g.int64s(`${name}.ends`, [end]),
      g.int64s(`${name}.axes`, [axis]),
    ],
    {},
    name,
  );
}

export function concat(g: GraphBuilder, xs: readonly string[], axis: number, name: string): string {
  return g.node('Concat', xs, { axis }, name);
}

/** `torch.roll(x, shift, dim)` for a constant shift along an axis of dynamic length. */
export function roll(g: GraphBuilder, x: string, axis: number, shift: number, name: string): string {
  if (shift === 0) return x;
  // roll by +s: the last s entries come first; by -s: entries from s onwards come first.
  const head = slice(g, x, axis, -shift, Number.MAX_SAFE_INTEGER, `${name}_head`);
  const tail = slice(g, x, axis, 0, -shift, `${name}_tail`);
  return concat(g, [head, tail], axis, name);
}

/** Dims [start, end) of a tensor's shape, as an int64 vector. */
export function shapeOf(g: GraphBuilder, x: string, start: number, end: number, name: string): Int64Value {
  return g.node('Shape', [x], { start, end }, name);
}

/** Element-wise int64 arithmetic on shape values. */
export function intOp(
  g: GraphBuilder,
  op: 'Add' | 'Sub' | 'Mul' | 'Div' | 'Mod',
  a: Int64Value,
  b: Int64Value | number,
  name: string,
): Int64Value {
  const rhs = typeof b === 'number' ? g.int64s(`${name}.k`, [b]) : b;
  return g.node(op, [a, rhs], {}, name);
}

/** A shape vector from int64 [1] values and constants, e.g. `[nWh, 8, nWw, 8, 60]`. */
export function shapeVector(
  g: GraphBuilder,
  parts: readonly (Int64Value | number)[],
  name: string,
): Int64Value {
  const pieces: string[] = [];
  let constants: number[] = [];
  const flush = () => {
    if (constants.length) pieces.push(g.int64s(`${name}.k`, constants));
    constants = [];
  };
  for (const p of parts) {
    if (typeof p === 'number') constants.push(p);
    else {
      flush();
      pieces.push(p);
    }
  }
  flush();
  return pieces.length === 1 ? pieces[0]! : concat(g, pieces, 0, name);
}

/** Eval-mode `nn.BatchNorm2d` from its stored statistics (ONNX BatchNormalization, NCHW). */
export function batchNorm(
  g: GraphBuilder,
  x: string,
  name: string,
  t: { weight: WeightTensor; bias: WeightTensor; mean: WeightTensor; variance: WeightTensor },
  counter: ParamCounter,
  epsilon = 1e-5,
): string {
  counter.params += t.weight.data.length + t.bias.data.length;
  const c = t.weight.data.length;
  const input = (label: string, w: WeightTensor) => g.tensor(`${name}.${label}`, w.data, [c]);
  return g.node(
    'BatchNormalization',
    [x, input('weight', t.weight), input('bias', t.bias), input('mean', t.mean), input('var', t.variance)],
    { epsilon: float(epsilon) },
    name,
  );
}

/** `F.normalize(x, dim=-1)`: x / max(‖x‖₂, 1e-12) along the last axis. */
export function l2Normalize(g: GraphBuilder, x: string, name: string, epsilon = 1e-12): string {
  const norm = g.node('ReduceL2', [x], { axes: [-1], keepdims: 1 }, `${name}_norm`);
  const clamped = g.node('Max', [norm, g.scalar(`${name}.eps`, epsilon)], {}, `${name}_clamp`);
  return g.node('Div', [x, clamped], {}, name);
}

/**
 * A channels-first LayerNorm over axis 1 of NCHW (the `LayerNorm2d` of NAFNet-style code, eps
 * 1e-6 by default), written out as the reference computes it: (x − μ) / √(σ² + ε) · w + b.
 */
export function channelsFirstLayerNorm(
  g: GraphBuilder,
  x: string,
  name: string,
  weight: WeightTensor,
  bias: WeightTensor,
  counter: ParamCounter,
  epsilon = 1e-6,
): string {
  const c = weight.data.length;
  counter.params += 2 * c;
  const mean = g.node('ReduceMean', [x], { axes: [1], keepdims: 1 }, `${name}_mean`);
  const centred = g.node('Sub', [x, mean], {}, `${name}_centred`);
  const squared = g.node('Mul', [centred, centred], {}, `${name}_sq`);
  const variance = g.node('ReduceMean', [squared], { axes: [1], keepdims: 1 }, `${name}_var`);
  const shifted = g.node('Add', [variance, g.scalar(`${name}.eps`, epsilon)], {}, `${name}_var_eps`);
  const normed = g.node('Div', [centred, g.node('Sqrt', [shifted], {}, `${name}_std`)], {}, `${name}_normed`);
  const scaled = g.node(
    'Mul',
    [normed, g.tensor(`${name}.weight`, weight.data, [c, 1, 1])],
    {},
    `${name}_scaled`,
  );
  return g.node('Add', [scaled, g.tensor(`${name}.bias`, bias.data, [c, 1, 1])], {}, name);
}
